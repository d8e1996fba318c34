//! discv4 datagrams of every packet type (ping, pong, findnode, neighbors,
//! ENR request, ENR response).
//!
//! Input `mode || rest`:
//! - mode 0: `rest` is a datagram off the wire (`decode_packet`);
//! - mode 1: `rest` is `type || body`; the harness hashes and signs it with
//!   a fixed key so the fuzzer reaches the body decoder through the real
//!   entry point, and checks `decode_packet` agrees with `decode_body`.
//!
//! A decoded message must survive encode∘decode unchanged (decoding is
//! lenient, so this checks decode∘encode∘decode).
#![no_main]

use devp2p_discover::node::{keccak256, NodeId};
use devp2p_discover::v4::wire::{
    decode_body, decode_packet, encode_packet, HASH_LEN, HEAD_LEN, MAX_PACKET_SIZE,
};
use devp2p_fuzz::key_b;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Ok(packet) = decode_packet(rest) {
            round_trip(&packet.message);
        }
        return;
    }
    let Some((&ptype, body)) = rest.split_first() else {
        return;
    };
    let direct = decode_body(ptype, body);
    let datagram = sign(ptype, body);
    let via_packet = decode_packet(&datagram);
    if datagram.len() <= MAX_PACKET_SIZE {
        let packet = via_packet.as_ref().ok();
        assert_eq!(packet.map(|p| &p.message), direct.as_ref().ok());
        if let Some(p) = packet {
            assert_eq!(p.sender, key_b().id());
            assert_eq!(p.hash[..], datagram[..HASH_LEN]);
        }
    }
    if let Ok(msg) = direct {
        round_trip(&msg);
    }
});

fn round_trip(msg: &devp2p_discover::v4::wire::Message) {
    let (datagram, hash) = encode_packet(key_b().secret(), msg);
    if datagram.len() > MAX_PACKET_SIZE {
        return;
    }
    let back = decode_packet(&datagram).expect("our own packet decodes");
    assert_eq!(&back.message, msg);
    assert_eq!(back.hash, hash);
    assert_eq!(back.sender, NodeId::from_secret_key(key_b().secret()));
}

/// `hash || signature || type || body`, signed with key B.
fn sign(ptype: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; HEAD_LEN];
    out.push(ptype);
    out.extend_from_slice(body);
    let digest = keccak256(&out[HEAD_LEN..]);
    let msg = secp256k1::Message::from_digest(digest);
    let key = key_b();
    let (recid, compact) =
        secp256k1::ecdsa::RecoverableSignature::sign_ecdsa_recoverable(msg, key.secret())
            .serialize_compact();
    out[HASH_LEN..HASH_LEN + 64].copy_from_slice(&compact);
    out[HASH_LEN + 64] = recid.to_u8();
    let hash = keccak256(&out[HASH_LEN..]);
    out[..HASH_LEN].copy_from_slice(&hash);
    out
}
