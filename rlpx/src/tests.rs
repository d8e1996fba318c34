//! Tests of the RLPx layer: EIP-8 vectors, round trips over duplex pipes and
//! TCP, bad input, and property tests of every decoder.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use devp2p_identity::node_key_from_rng;
use futures::{SinkExt, StreamExt};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use secp256k1::{PublicKey, SecretKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{Decoder, Encoder};

use super::*;
use devp2p_identity::NodeId;

fn vectors() -> HashMap<String, Vec<u8>> {
    crate::test_vectors::eip8_vectors()
}

fn key(v: &HashMap<String, Vec<u8>>, name: &str) -> SecretKey {
    SecretKey::from_secret_bytes(v[name].as_slice().try_into().expect("32 bytes"))
        .expect("valid key")
}

fn pubkey_id(sk: &SecretKey) -> NodeId {
    NodeId::from_secret_key(sk)
}

fn arr32(b: &[u8]) -> [u8; 32] {
    b.try_into().unwrap()
}

#[test]
fn vectors_auth_decode_with_key_b() {
    let v = vectors();
    let key_b = HandshakeKey::new(key(&v, "static_key_b"));
    let id_a = pubkey_id(&key(&v, "static_key_a"));
    let eph_a = pubkey_id(&key(&v, "ephemeral_key_a"));
    let nonce_a = arr32(&v["nonce_a"]);
    let cases = [
        ("auth1_v4", PacketFormat::Legacy, 4u64),
        ("auth2_eip8", PacketFormat::Eip8, 4),
        ("auth3_eip8_v56", PacketFormat::Eip8, 56),
    ];
    for (name, format, version) in cases {
        let (auth, got_format) = decode_auth(key_b.secret(), &v[name]).expect(name);
        assert_eq!(got_format, format, "{name}");
        assert_eq!(auth.initiator_id, id_a, "{name}");
        assert_eq!(auth.nonce, nonce_a, "{name}");
        assert_eq!(auth.version, version, "{name}");
        let static_shared = ecdh_x(&id_a.to_public_key().unwrap(), key_b.secret());
        let eph = auth.recover_ephemeral(&static_shared).expect(name);
        assert_eq!(NodeId::from_public_key(&eph), eph_a, "{name}");
    }
}

#[test]
fn vectors_ack_decode_with_key_a() {
    let v = vectors();
    let key_a = key(&v, "static_key_a");
    let eph_b = pubkey_id(&key(&v, "ephemeral_key_b"));
    let nonce_b = arr32(&v["nonce_b"]);
    let cases = [
        ("ack1_v4", PacketFormat::Legacy, 4u64),
        ("ack2_eip8", PacketFormat::Eip8, 4),
        ("ack3_eip8_v57", PacketFormat::Eip8, 57),
    ];
    for (name, format, version) in cases {
        let (ack, got_format) = decode_ack(&key_a, &v[name]).expect(name);
        assert_eq!(got_format, format, "{name}");
        assert_eq!(ack.ephemeral_id, eph_b, "{name}");
        assert_eq!(ack.nonce, nonce_b, "{name}");
        assert_eq!(ack.version, version, "{name}");
    }
}

#[test]
fn vectors_secrets_auth2_ack2_as_node_b() {
    let v = vectors();
    let key_b = key(&v, "static_key_b");
    let eph_b = key(&v, "ephemeral_key_b");
    let eph_a_pub = PublicKey::from_secret_key(&key(&v, "ephemeral_key_a"));
    let (auth, _) = decode_auth(&key_b, &v["auth2_eip8"]).unwrap();
    let mut secrets = Secrets::derive(&HandshakeTranscript {
        initiator: false,
        local_ephemeral: &eph_b,
        remote_ephemeral: &eph_a_pub,
        initiator_nonce: &auth.nonce,
        recipient_nonce: &arr32(&v["nonce_b"]),
        auth: &v["auth2_eip8"],
        ack: &v["ack2_eip8"],
        remote_id: auth.initiator_id,
    });
    assert_eq!(secrets.aes_secret[..], v["aes_secret_auth2_ack2"][..]);
    assert_eq!(secrets.mac_secret[..], v["mac_secret_auth2_ack2"][..]);
    secrets.ingress_mac.update(b"foo");
    assert_eq!(
        secrets.ingress_mac.digest()[..],
        v["ingress_mac_foo_auth2_ack2"][..]
    );
}

#[test]
fn vectors_recipient_answers_with_vector_keys() {
    // Recipient::respond on Auth2 with B's ephemeral key and nonce derives the
    // vector's aes/mac secrets too (the MAC seeds differ: our ack is random).
    let v = vectors();
    let key_b = HandshakeKey::new(key(&v, "static_key_b"));
    let mut rng = StdRng::seed_from_u64(1);
    let (secrets, ack) = Recipient::respond_with_ephemeral(
        &key_b,
        &v["auth2_eip8"],
        key(&v, "ephemeral_key_b"),
        arr32(&v["nonce_b"]),
        &mut rng,
    )
    .unwrap();
    assert_eq!(secrets.aes_secret[..], v["aes_secret_auth2_ack2"][..]);
    assert_eq!(secrets.mac_secret[..], v["mac_secret_auth2_ack2"][..]);
    let (ack, format) = decode_ack(&key(&v, "static_key_a"), &ack).unwrap();
    assert_eq!(format, PacketFormat::Eip8);
    assert_eq!(ack.nonce[..], v["nonce_b"][..]);
}

fn seeded_key(seed: u64) -> HandshakeKey {
    HandshakeKey::new(node_key_from_rng(&mut StdRng::seed_from_u64(seed)))
}

/// Runs the handshake without I/O and returns (initiator codec, recipient codec).
fn codec_pair(seed: u64) -> (FrameCodec, FrameCodec) {
    let mut rng = StdRng::seed_from_u64(seed);
    let a = seeded_key(seed * 2 + 100);
    let b = seeded_key(seed * 2 + 101);
    let init = Initiator::new(&a, b.id(), &mut rng).unwrap();
    let (sb, ack) = Recipient::respond(&b, init.auth_packet(), &mut rng).unwrap();
    assert_eq!(sb.remote_id, a.id());
    let sa = init.finish(&a, &ack).unwrap();
    assert_eq!(sa.remote_id, b.id());
    (FrameCodec::new(sa), FrameCodec::new(sb))
}

#[test]
fn sans_io_handshake_and_frames() {
    let (mut a, mut b) = codec_pair(1);
    let mut wire = BytesMut::new();
    for size in [0usize, 1, 15, 16, 17, 1000, 65536] {
        let msg: Vec<u8> = (0..size).map(|i| i as u8).collect();
        a.encode(Bytes::from(msg.clone()), &mut wire).unwrap();
        assert_eq!(wire.len(), frame_len(size));
        // Feed byte-by-byte for small frames to exercise partial reads.
        if size < 100 {
            let mut partial = BytesMut::new();
            let mut out = None;
            for byte in wire.split().iter() {
                assert!(out.is_none());
                partial.extend_from_slice(&[*byte]);
                out = b.decode(&mut partial).unwrap();
            }
            assert_eq!(out.unwrap()[..], msg[..]);
        } else {
            assert_eq!(b.decode(&mut wire).unwrap().unwrap()[..], msg[..]);
        }
        assert!(wire.is_empty());
    }
    // And the other direction.
    b.encode(Bytes::from_static(b"pong"), &mut wire).unwrap();
    assert_eq!(&a.decode(&mut wire).unwrap().unwrap()[..], b"pong");
}

#[test]
fn header_data_is_rlp_zero_zero() {
    // Decrypt our own header with a raw CTR cipher to check the wire layout.
    use aes::cipher::{KeyIvInit, StreamCipher};
    let mut rng = StdRng::seed_from_u64(9);
    let a = seeded_key(1);
    let b = seeded_key(2);
    let init = Initiator::new(&a, b.id(), &mut rng).unwrap();
    let (_, ack) = Recipient::respond(&b, init.auth_packet(), &mut rng).unwrap();
    let secrets = init.finish(&a, &ack).unwrap();
    let aes_secret = secrets.aes_secret;
    let mut codec = FrameCodec::new(secrets);
    let mut wire = BytesMut::new();
    codec.encode_frame(&[0xaa; 20], &mut wire).unwrap();
    let mut header = [0u8; 16];
    header.copy_from_slice(&wire[..16]);
    ctr::Ctr128BE::<aes::Aes256>::new(&aes_secret.into(), &[0u8; 16].into())
        .apply_keystream(&mut header);
    assert_eq!(header[..6], [0, 0, 20, 0xc2, 0x80, 0x80]);
    assert!(header[6..].iter().all(|b| *b == 0));
}

fn message(rng: &mut StdRng, size: usize) -> Bytes {
    let mut m = vec![0u8; size];
    rng.fill_bytes(&mut m);
    Bytes::from(m)
}

const ROUND_TRIP_SIZES: [usize; 9] = [0, 1, 16, 63, 64, 1024, 4095, 65536, 1 << 20];

/// Sends every size in both directions at once and checks each message.
async fn exchange<S>(a: RlpxStream<S>, b: RlpxStream<S>, rounds: usize)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut rng = StdRng::seed_from_u64(42);
    let msgs: Vec<Bytes> = (0..rounds)
        .flat_map(|_| ROUND_TRIP_SIZES)
        .map(|s| message(&mut rng, s))
        .collect();
    let (mut a_tx, mut a_rx) = a.split();
    let (mut b_tx, mut b_rx) = b.split();
    let to_b = msgs.clone();
    let to_a = msgs.clone();
    let send_a = tokio::spawn(async move {
        for m in to_b {
            a_tx.send(m).await.unwrap();
        }
        a_tx
    });
    let send_b = tokio::spawn(async move {
        for m in to_a {
            b_tx.send(m).await.unwrap();
        }
        b_tx
    });
    for m in &msgs {
        assert_eq!(b_rx.next().await.unwrap().unwrap()[..], m[..]);
        assert_eq!(a_rx.next().await.unwrap().unwrap()[..], m[..]);
    }
    drop(send_a.await.unwrap());
    drop(send_b.await.unwrap());
}

#[tokio::test]
async fn round_trip_over_duplex() {
    let a = seeded_key(10);
    let b = seeded_key(11);
    let (ia, ib) = tokio::io::duplex(64 * 1024);
    let b_secret = *b.secret();
    let accept_task = tokio::spawn(async move { accept(ib, &b_secret).await });
    let sa = connect(ia, a.secret(), b.id()).await.unwrap();
    let sb = accept_task.await.unwrap().unwrap();
    assert_eq!(sa.remote_id(), b.id());
    assert_eq!(sb.remote_id(), a.id());
    exchange(sa, sb, 3).await;
}

#[tokio::test]
async fn round_trip_over_tcp() {
    let a = seeded_key(20);
    let b = seeded_key(21);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let b2 = b.clone();
    let accept_task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        accept_with_key(tcp, &b2).await
    });
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let sa = connect_with_key(tcp, &a, b.id()).await.unwrap();
    let sb = accept_task.await.unwrap().unwrap();
    assert_eq!(sa.remote_id(), b.id());
    assert_eq!(sb.remote_id(), a.id());
    assert_eq!(sa.get_ref().peer_addr().unwrap(), addr);
    exchange(sa, sb, 3).await;
}

#[tokio::test]
async fn recipient_accepts_legacy_auth_and_answers_legacy_ack() {
    let a = seeded_key(30);
    let b = seeded_key(31);
    let mut rng = StdRng::seed_from_u64(3);
    let eph = node_key_from_rng(&mut rng);
    let nonce = [7u8; 32];
    let auth = encode_legacy_auth(&a, &b.id().to_public_key().unwrap(), &eph, &nonce, &mut rng);
    assert_eq!(auth.len(), LEGACY_AUTH_SIZE);

    let (mut raw, io_b) = tokio::io::duplex(4096);
    let b2 = b.clone();
    let accept_task = tokio::spawn(async move { accept_with_key(io_b, &b2).await });
    raw.write_all(&auth).await.unwrap();
    let mut ack = vec![0u8; LEGACY_ACK_SIZE];
    raw.read_exact(&mut ack).await.unwrap();
    let mut sb = accept_task.await.unwrap().unwrap();
    assert_eq!(sb.remote_id(), a.id());

    let (ack_msg, format) = decode_ack(a.secret(), &ack).unwrap();
    assert_eq!(format, PacketFormat::Legacy);
    let secrets = Secrets::derive(&HandshakeTranscript {
        initiator: true,
        local_ephemeral: &eph,
        remote_ephemeral: &ack_msg.ephemeral_id.to_public_key().unwrap(),
        initiator_nonce: &nonce,
        recipient_nonce: &ack_msg.nonce,
        auth: &auth,
        ack: &ack,
        remote_id: b.id(),
    });
    let mut codec = FrameCodec::new(secrets);
    let mut wire = BytesMut::new();
    codec.encode_frame(b"legacy hello", &mut wire).unwrap();
    raw.write_all(&wire).await.unwrap();
    assert_eq!(&sb.next().await.unwrap().unwrap()[..], b"legacy hello");
}

#[test]
fn initiator_accepts_legacy_ack() {
    let a = seeded_key(40);
    let b = seeded_key(41);
    let mut rng = StdRng::seed_from_u64(4);
    let eph = node_key_from_rng(&mut rng);
    let nonce = [9u8; 32];
    let legacy_auth =
        encode_legacy_auth(&a, &b.id().to_public_key().unwrap(), &eph, &nonce, &mut rng);
    let (_, ack) = Recipient::respond(&b, &legacy_auth, &mut rng).unwrap();
    assert_eq!(ack.len(), LEGACY_ACK_SIZE);
    // An EIP-8 initiator (our Initiator) reading a legacy ack.
    let init = Initiator::new(&a, b.id(), &mut rng).unwrap();
    let (_, legacy_ack) = Recipient::respond(&b, &legacy_auth, &mut rng).unwrap();
    // The legacy ack belongs to another auth, so MACs will not match, but the
    // initiator must accept its format and derive secrets.
    assert!(init.finish(&a, &legacy_ack).is_ok());
}

#[test]
fn eip8_padding_within_range() {
    let a = seeded_key(50);
    let b = seeded_key(51);
    let mut rng = StdRng::seed_from_u64(5);
    for _ in 0..20 {
        let init = Initiator::new(&a, b.id(), &mut rng).unwrap();
        let p = init.auth_packet();
        let size = usize::from(u16::from_be_bytes([p[0], p[1]]));
        assert_eq!(p.len(), size + SIZE_PREFIX_LEN);
        // Body is the RLP list: sig 65+2, id 64+2, nonce 32+1, version 1, list header 2.
        let padding = size - ECIES_OVERHEAD - 169;
        assert!(PADDING_RANGE.contains(&padding), "padding {padding}");
    }
}

// ---- bad input -------------------------------------------------------------

#[test]
fn garbage_and_truncated_auth_are_typed_errors() {
    let b = seeded_key(61);
    let a = seeded_key(60);
    let mut rng = StdRng::seed_from_u64(6);
    let init = Initiator::new(&a, b.id(), &mut rng).unwrap();
    let auth = init.auth_packet().to_vec();

    // Truncated.
    for cut in [0, 1, 2, 50, auth.len() - 1] {
        let err = decode_auth(b.secret(), &auth[..cut]).unwrap_err();
        assert!(err.is_protocol_violation(), "cut {cut}: {err}");
    }
    // Garbage body behind a plausible prefix.
    let mut garbage = vec![0u8; 300];
    rng.fill_bytes(&mut garbage);
    garbage[0] = 0x01;
    garbage[1] = 0x2a;
    assert!(matches!(
        decode_auth(b.secret(), &garbage).unwrap_err(),
        RlpxError::Ecies(EciesError::InvalidPublicKey | EciesError::BadMac)
    ));
    // Bad ECIES MAC: flip one ciphertext byte.
    let mut tampered = auth.clone();
    tampered[100] ^= 0x01;
    assert!(matches!(
        decode_auth(b.secret(), &tampered).unwrap_err(),
        RlpxError::Ecies(EciesError::BadMac)
    ));
    // Prefix is MACed too.
    let mut tampered = auth.clone();
    tampered.push(0);
    tampered[1] = tampered[1].wrapping_add(1);
    assert!(decode_auth(b.secret(), &tampered).is_err());
    // Wrong recipient key.
    let c = seeded_key(62);
    assert!(matches!(
        decode_auth(c.secret(), &auth).unwrap_err(),
        RlpxError::Ecies(EciesError::BadMac)
    ));
}

#[tokio::test]
async fn oversized_size_prefix_rejected_before_reading() {
    let b = seeded_key(70);
    let (mut raw, io_b) = tokio::io::duplex(64);
    let task = tokio::spawn(async move { accept_with_key(io_b, &b).await });
    // 2049 announced; nothing else is ever sent, so only an early rejection
    // can finish (a reader waiting for the body would time out instead).
    raw.write_all(&((MAX_HANDSHAKE_PACKET_SIZE + 1) as u16).to_be_bytes())
        .await
        .unwrap();
    let err = task.await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            RlpxError::HandshakePacketTooLarge {
                size: 2049,
                max: 2048
            }
        ),
        "{err}"
    );
    assert!(err.is_protocol_violation());
    assert!(matches!(
        eip8_packet_len([0xff, 0xff]),
        Err(RlpxError::HandshakePacketTooLarge { size: 65535, .. })
    ));
    assert_eq!(eip8_packet_len([0x08, 0x00]).unwrap(), 2050);
}

#[tokio::test]
async fn truncated_auth_over_io_is_eof() {
    let a = seeded_key(80);
    let b = seeded_key(81);
    let mut rng = StdRng::seed_from_u64(8);
    let init = Initiator::new(&a, b.id(), &mut rng).unwrap();
    let (mut raw, io_b) = tokio::io::duplex(4096);
    let task = tokio::spawn(async move { accept_with_key(io_b, &b).await });
    raw.write_all(&init.auth_packet()[..100]).await.unwrap();
    drop(raw);
    let err = task.await.unwrap().unwrap_err();
    assert!(matches!(err, RlpxError::HandshakeEof), "{err}");
    assert!(err.is_network_error());
}

#[tokio::test(start_paused = true)]
async fn stalled_peer_times_out() {
    let a = seeded_key(90);
    let b = seeded_key(91);
    // The recipient reads the auth but never answers.
    let (io_a, mut raw) = tokio::io::duplex(4096);
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        let n = raw.read(&mut buf).await.unwrap();
        // Keep the pipe open well past the timeout.
        tokio::time::sleep(Duration::from_secs(60)).await;
        n
    });
    let started = tokio::time::Instant::now();
    let err = connect_with_key(io_a, &a, b.id()).await.unwrap_err();
    assert!(matches!(err, RlpxError::HandshakeTimeout), "{err}");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= HANDSHAKE_TIMEOUT && elapsed < HANDSHAKE_TIMEOUT + Duration::from_millis(10)
    );
    assert!(reader.await.unwrap() > 0);

    // A recipient whose initiator sends half an auth and stalls.
    let (io_b, mut raw) = tokio::io::duplex(4096);
    raw.write_all(&[0x01, 0x80, 0, 0]).await.unwrap();
    let err = accept_with_key(io_b, &b).await.unwrap_err();
    assert!(matches!(err, RlpxError::HandshakeTimeout), "{err}");
    drop(raw);
}

fn corrupt_and_decode(offset_from: impl Fn(usize) -> usize) -> RlpxError {
    let (mut a, mut b) = codec_pair(5);
    let mut wire = BytesMut::new();
    a.encode_frame(&[5u8; 40], &mut wire).unwrap();
    let i = offset_from(wire.len());
    wire[i] ^= 0x80;
    b.decode(&mut wire).unwrap_err()
}

#[test]
fn bad_header_mac() {
    // Header ciphertext byte and header MAC byte.
    assert!(matches!(corrupt_and_decode(|_| 3), RlpxError::BadHeaderMac));
    assert!(matches!(
        corrupt_and_decode(|_| 20),
        RlpxError::BadHeaderMac
    ));
}

#[test]
fn bad_frame_mac() {
    assert!(matches!(corrupt_and_decode(|_| 40), RlpxError::BadFrameMac));
    assert!(matches!(
        corrupt_and_decode(|n| n - 1),
        RlpxError::BadFrameMac
    ));
}

#[test]
fn codec_stays_failed_after_error() {
    let (mut a, mut b) = codec_pair(6);
    let mut wire = BytesMut::new();
    a.encode_frame(b"x", &mut wire).unwrap();
    wire[0] ^= 1;
    let err = b.decode(&mut wire).unwrap_err();
    assert!(err.is_fatal() && err.is_protocol_violation());
    a.encode_frame(b"y", &mut wire).unwrap();
    assert!(matches!(b.decode(&mut wire), Err(RlpxError::CodecFailed)));
}

#[test]
fn frame_size_beyond_limit_rejected_before_body() {
    let (mut a, b) = codec_pair(7);
    let mut b = b.with_max_message_size(1000);
    let mut wire = BytesMut::new();
    a.encode_frame(&[1u8; 1001], &mut wire).unwrap();
    // Only the header is needed to reject it.
    let mut head = wire.split_to(32);
    let err = b.decode(&mut head).unwrap_err();
    assert!(
        matches!(
            err,
            RlpxError::FrameTooLarge {
                size: 1001,
                max: 1000
            }
        ),
        "{err}"
    );
    assert!(err.is_protocol_violation());
}

#[test]
fn message_too_large_is_not_fatal() {
    let (mut a, mut b) = codec_pair(8);
    let mut wire = BytesMut::new();
    let err = a
        .encode_frame(&vec![0u8; MAX_MESSAGE_SIZE + 1], &mut wire)
        .unwrap_err();
    assert!(matches!(err, RlpxError::MessageTooLarge { .. }));
    assert!(!err.is_fatal());
    assert!(wire.is_empty());
    a.encode_frame(b"still fine", &mut wire).unwrap();
    assert_eq!(&b.decode(&mut wire).unwrap().unwrap()[..], b"still fine");
}

#[test]
fn truncated_frame_at_eof() {
    let (mut a, mut b) = codec_pair(9);
    let mut wire = BytesMut::new();
    a.encode_frame(b"hello", &mut wire).unwrap();
    wire.truncate(wire.len() - 3);
    assert!(matches!(
        b.decode_eof(&mut wire),
        Err(RlpxError::TruncatedFrame)
    ));
    let (_, mut fresh) = codec_pair(9);
    let mut empty = BytesMut::new();
    assert!(matches!(fresh.decode_eof(&mut empty), Ok(None)));
}

#[test]
fn connect_rejects_invalid_remote_id() {
    let a = seeded_key(100);
    let mut rng = StdRng::seed_from_u64(10);
    let err = Initiator::new(&a, NodeId([0u8; 64]), &mut rng).unwrap_err();
    assert!(matches!(err, RlpxError::InvalidRemoteId));
}

#[test]
fn rlp_body_errors_are_typed() {
    assert!(AuthMessage::decode_eip8(&[0xc0]).is_err());
    assert!(AuthMessage::decode_eip8(&[0x80]).is_err());
    assert!(AckMessage::decode_eip8(&[0xc3, 0x80, 0x80, 0x80]).is_err());
    let mut body = Vec::new();
    AckMessage {
        ephemeral_id: NodeId([1u8; 64]),
        nonce: [2u8; 32],
        version: 4,
    }
    .encode_eip8(&mut body);
    body.extend_from_slice(&[0u8; 100]); // padding is ignored
    let ack = AckMessage::decode_eip8(&body).unwrap();
    assert_eq!(ack.version, 4);
}

// ---- property tests --------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn decode_auth_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2200)) {
        let b = seeded_key(200);
        let _ = decode_auth(b.secret(), &bytes);
    }

    #[test]
    fn decode_ack_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2200)) {
        let a = seeded_key(201);
        let _ = decode_ack(a.secret(), &bytes);
    }

    #[test]
    fn legacy_sized_packets_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), LEGACY_AUTH_SIZE..=LEGACY_AUTH_SIZE)) {
        bytes[0] = 0x04;
        let b = seeded_key(202);
        let _ = decode_auth(b.secret(), &bytes);
        let _ = decode_ack(b.secret(), &bytes[..LEGACY_ACK_SIZE]);
    }

    #[test]
    fn message_bodies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = AuthMessage::decode_eip8(&bytes);
        let _ = AckMessage::decode_eip8(&bytes);
        let _ = AuthMessage::decode_legacy(&bytes);
        let _ = AckMessage::decode_legacy(&bytes);
    }

    #[test]
    fn rlp_list_bodies_never_panic(items in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..6)) {
        let encoded: Vec<Vec<u8>> = items.iter().map(|item| alloy_rlp::encode(item.as_slice())).collect();
        let refs: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
        let body = devp2p_identity::rlp_item::list_of_raw(&refs);
        let _ = AuthMessage::decode_eip8(&body);
        let _ = AckMessage::decode_eip8(&body);
    }

    #[test]
    fn ecies_decrypt_never_panics(mut bytes in proptest::collection::vec(any::<u8>(), 0..400), prefix in any::<[u8; 2]>()) {
        let b = seeded_key(203);
        let _ = ecies_decrypt(b.secret(), &mut bytes, &prefix);
    }

    #[test]
    fn frame_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096), max in 0usize..100_000) {
        let (_, b) = codec_pair(11);
        let mut b = b.with_max_message_size(max);
        let mut buf = BytesMut::from(&bytes[..]);
        let _ = b.decode(&mut buf);
        let _ = b.decode_eof(&mut buf);
    }

    #[test]
    fn frame_decode_after_valid_header_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..2048)) {
        // A genuine header and header MAC followed by random body bytes.
        let (mut a, mut b) = codec_pair(12);
        let mut wire = BytesMut::new();
        a.encode_frame(&[0u8; 1000], &mut wire).unwrap();
        wire.truncate(32);
        wire.extend_from_slice(&tail);
        match b.decode(&mut wire) {
            Ok(None) => prop_assert!(tail.len() < 1008 + 16),
            Ok(Some(_)) => prop_assert!(false, "random body passed the MAC"),
            Err(e) => prop_assert!(matches!(e, RlpxError::BadFrameMac)),
        }
    }

    #[test]
    fn frames_round_trip(msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..3000), 1..8)) {
        let (mut a, mut b) = codec_pair(13);
        let mut wire = BytesMut::new();
        for m in &msgs {
            a.encode_frame(m, &mut wire).unwrap();
        }
        for m in &msgs {
            let got = b.decode(&mut wire).unwrap().unwrap();
            prop_assert_eq!(&got[..], &m[..]);
        }
        prop_assert!(wire.is_empty());
    }
}

#[test]
fn stalled_large_frame_reserves_only_what_arrived_plus_a_step() {
    let (mut a, mut b) = codec_pair(9);
    let msg = vec![7u8; 4 * 1024 * 1024];
    let mut wire = BytesMut::new();
    a.encode_frame(&msg, &mut wire).unwrap();
    // Header plus the first 1 KiB of the body, then the peer stalls.
    let mut src = BytesMut::from(&wire[..32 + 1024]);
    assert!(b.decode(&mut src).unwrap().is_none());
    assert!(
        src.capacity() <= 32 + 1024 + 64 * 1024,
        "reserved {} bytes for a stalled 4 MiB frame",
        src.capacity()
    );
    // Feeding the rest still decodes the whole message.
    src.extend_from_slice(&wire[32 + 1024..]);
    let frame = b
        .decode(&mut src)
        .unwrap()
        .expect("the whole frame is buffered");
    assert_eq!(&frame[..], &msg[..]);
}

/// Simulated reads that fill all the space the codec reserved: the
/// reservation grows (fewer reads per frame while the remote streams).
#[test]
fn read_ahead_grows_while_reads_fill_the_buffer() {
    let (mut a, mut b) = codec_pair(21);
    let mut wire = BytesMut::new();
    let frames = 256;
    for _ in 0..frames {
        a.encode_frame(&[7u8; 1000], &mut wire).unwrap();
    }
    let mut src = BytesMut::new();
    let (mut decoded, mut reads, mut largest_read) = (0, 0, 0);
    loop {
        while let Some(frame) = b.decode_frame(&mut src).unwrap() {
            assert_eq!(frame.len(), 1000);
            decoded += 1;
        }
        if wire.is_empty() {
            break;
        }
        // A read takes what fits in the space reserved, as a socket read does.
        let n = (src.capacity() - src.len()).min(wire.len());
        assert!(n > 0, "the codec reserves space before asking for more");
        src.extend_from_slice(&wire.split_to(n));
        reads += 1;
        largest_read = largest_read.max(n);
    }
    assert_eq!(decoded, frames);
    assert!(largest_read >= 32 * 1024, "largest read {largest_read}");
    assert!(reads < frames / 4, "{reads} reads for {frames} frames");

    // Frames still decode after the stream stops (a read that leaves space
    // unused resets the read-ahead; the buffer keeps its capacity).
    a.encode_frame(&[1u8; 10], &mut wire).unwrap();
    src.extend_from_slice(&wire.split());
    assert_eq!(b.decode_frame(&mut src).unwrap().map(|f| f.len()), Some(10));
    assert!(b.decode_frame(&mut src).unwrap().is_none());
}
