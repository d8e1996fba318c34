//! RLPx auth packets (EIP-8 and legacy) as the recipient (EIP-8's key B).
//!
//! Input `mode || rest`:
//! - mode 0: `rest` is a whole packet off the wire: `decode_auth`, then the
//!   full `Recipient` answer (signature recovery, ack, secrets);
//! - mode 1: `rest` is an EIP-8 auth body, sealed here (size prefix, ECIES
//!   to B) so the fuzzer reaches the RLP decoder behind the MAC;
//! - mode 2: `rest` is a legacy auth plaintext, sealed without prefix.
//!
//! A decoded EIP-8 body must re-encode to a body that decodes to the same
//! message (the format is lenient, so the check is decode∘encode∘decode).
#![no_main]

use devp2p::rlpx::{
    decode_auth, ecies_encrypt, AuthMessage, PacketFormat, Recipient, ECIES_OVERHEAD,
    MAX_HANDSHAKE_PACKET_SIZE,
};
use devp2p_fuzz::{key_b, rng, secret, EPHEMERAL_B_HEX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let key = key_b();
    let packet = match mode % 3 {
        0 => rest.to_vec(),
        1 => {
            if rest.len() + ECIES_OVERHEAD > MAX_HANDSHAKE_PACKET_SIZE {
                return;
            }
            let prefix = ((rest.len() + ECIES_OVERHEAD) as u16).to_be_bytes();
            let mut p = prefix.to_vec();
            let remote = secp256k1::PublicKey::from_secret_key(key.secret());
            ecies_encrypt(&remote, rest, &prefix, &mut rng(), &mut p);
            p
        }
        _ => {
            let mut p = Vec::new();
            let remote = secp256k1::PublicKey::from_secret_key(key.secret());
            ecies_encrypt(&remote, rest, &[], &mut rng(), &mut p);
            p
        }
    };
    if let Ok((msg, PacketFormat::Eip8)) = decode_auth(key.secret(), &packet) {
        let mut body = Vec::new();
        msg.encode_eip8(&mut body);
        assert_eq!(AuthMessage::decode_eip8(&body).as_ref(), Ok(&msg));
    }
    let _ = AuthMessage::decode_eip8(rest);
    let _ = AuthMessage::decode_legacy(rest);
    let _ = Recipient::respond_with_ephemeral(
        key,
        &packet,
        secret(EPHEMERAL_B_HEX),
        [0xb2; 32],
        &mut rng(),
    );
});
