//! RLPx ack packets (EIP-8 and legacy) as the initiator (EIP-8's key A).
//!
//! Input `mode || rest`:
//! - mode 0: `rest` is a whole packet off the wire;
//! - mode 1: `rest` is an EIP-8 ack body, sealed here (size prefix, ECIES
//!   to A) so the fuzzer reaches the RLP decoder behind the MAC;
//! - mode 2: `rest` is a legacy ack plaintext, sealed without prefix.
//!
//! Decoded acks must round-trip: EIP-8 bodies through decode∘encode∘decode,
//! legacy plaintexts exactly (that format is fixed-size and canonical but
//! for its unchecked trailing byte).
#![no_main]

use devp2p::rlpx::{
    decode_ack, ecies_encrypt, AckMessage, PacketFormat, ECIES_OVERHEAD, MAX_HANDSHAKE_PACKET_SIZE,
};
use devp2p_fuzz::{key_a, rng};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let key = key_a();
    let remote = secp256k1::PublicKey::from_secret_key(key.secret());
    let packet = match mode % 3 {
        0 => rest.to_vec(),
        1 => {
            if rest.len() + ECIES_OVERHEAD > MAX_HANDSHAKE_PACKET_SIZE {
                return;
            }
            let prefix = ((rest.len() + ECIES_OVERHEAD) as u16).to_be_bytes();
            let mut p = prefix.to_vec();
            ecies_encrypt(&remote, rest, &prefix, &mut rng(), &mut p);
            p
        }
        _ => {
            let mut p = Vec::new();
            ecies_encrypt(&remote, rest, &[], &mut rng(), &mut p);
            p
        }
    };
    match decode_ack(key.secret(), &packet) {
        Ok((msg, PacketFormat::Eip8)) => {
            let mut body = Vec::new();
            msg.encode_eip8(&mut body);
            assert_eq!(AckMessage::decode_eip8(&body).as_ref(), Ok(&msg));
            let _ = msg.ephemeral_id.to_public_key();
        }
        Ok((msg, PacketFormat::Legacy)) => {
            let plain = msg.encode_legacy();
            assert_eq!(AckMessage::decode_legacy(&plain).as_ref(), Ok(&msg));
            if mode % 3 == 2 {
                assert_eq!(plain[..96], rest[..96]);
            }
        }
        Err(_) => {}
    }
    let _ = AckMessage::decode_eip8(rest);
    let _ = AckMessage::decode_legacy(rest);
});
