//! ECIES as the RLPx spec defines it: ECDH on secp256k1, the NIST SP 800-56
//! concatenation KDF with SHA-256, AES-128-CTR and HMAC-SHA256 over
//! `iv || ciphertext || shared-mac-data`.
//!
//! Wire form: `R (65, uncompressed) || iv (16) || ciphertext || tag (32)`.

use aes::cipher::{KeyIvInit, StreamCipher};
use devp2p_identity::node_key_from_rng;
use hmac::{Hmac, Mac};
use rand::CryptoRng;
use secp256k1::{ecdh, PublicKey, SecretKey};
use sha2::{Digest, Sha256};

use super::error::EciesError;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;
type HmacSha256 = Hmac<Sha256>;

/// Length of the uncompressed ephemeral public key at the start of a message.
const PUBLIC_KEY_LEN: usize = 65;
/// AES block / IV length in bytes.
const IV_LEN: usize = 16;
/// HMAC-SHA256 tag length in bytes.
const TAG_LEN: usize = 32;

/// Bytes ECIES adds to a plaintext: public key (65) + IV (16) + tag (32) = 113
/// (RLPx spec, "ECIES Encryption").
pub const ECIES_OVERHEAD: usize = PUBLIC_KEY_LEN + IV_LEN + TAG_LEN;

/// The x coordinate of `secret * public`: the ECDH agreement RLPx uses
/// everywhere (spec: `ecdh.agree`).
pub fn ecdh_x(public: &PublicKey, secret: &SecretKey) -> [u8; 32] {
    let xy = ecdh::shared_secret_point(public, secret);
    let mut x = [0u8; 32];
    x.copy_from_slice(&xy[..32]);
    x
}

/// Derives the AES-128 key and the (already hashed) MAC key from the shared
/// secret: concat KDF, one SHA-256 round with counter 1 and empty `s1`.
fn derive_keys(shared_x: &[u8; 32]) -> ([u8; 16], [u8; 32]) {
    let mut h = Sha256::new();
    h.update(1u32.to_be_bytes());
    h.update(shared_x);
    let k = h.finalize();
    let mut enc = [0u8; 16];
    enc.copy_from_slice(&k[..16]);
    let mac: [u8; 32] = Sha256::digest(&k[16..32]).into();
    (enc, mac)
}

fn tag(mac_key: &[u8; 32], iv_and_ciphertext: &[u8], shared_mac_data: &[u8]) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(mac_key).expect("HMAC accepts any key length");
    m.update(iv_and_ciphertext);
    m.update(shared_mac_data);
    m
}

/// Encrypts `plain` to `remote`, appending the ECIES message to `out`.
///
/// `shared_mac_data` is authenticated but not sent: the 2-byte size prefix
/// for EIP-8 packets, empty for legacy ones.
pub fn encrypt<R: CryptoRng + ?Sized>(
    remote: &PublicKey,
    plain: &[u8],
    shared_mac_data: &[u8],
    rng: &mut R,
    out: &mut Vec<u8>,
) {
    let ephemeral = node_key_from_rng(rng);
    let ephemeral_pub = devp2p_identity::secp::public_key(&ephemeral);
    let (enc_key, mac_key) = derive_keys(&ecdh_x(remote, &ephemeral));
    let mut iv = [0u8; IV_LEN];
    rng.fill_bytes(&mut iv);

    out.reserve(ECIES_OVERHEAD + plain.len());
    out.extend_from_slice(&ephemeral_pub.serialize_uncompressed());
    let body_start = out.len();
    out.extend_from_slice(&iv);
    out.extend_from_slice(plain);
    Aes128Ctr::new(&enc_key.into(), &iv.into()).apply_keystream(&mut out[body_start + IV_LEN..]);
    let t = tag(&mac_key, &out[body_start..], shared_mac_data)
        .finalize()
        .into_bytes();
    out.extend_from_slice(&t);
}

/// Decrypts an ECIES message in place and returns the plaintext, a sub-slice
/// of `data`. The tag is checked (in constant time) before anything is
/// decrypted.
pub fn decrypt<'a>(
    secret: &SecretKey,
    data: &'a mut [u8],
    shared_mac_data: &[u8],
) -> Result<&'a mut [u8], EciesError> {
    if data.len() < ECIES_OVERHEAD {
        return Err(EciesError::TooShort {
            size: data.len(),
            min: ECIES_OVERHEAD,
        });
    }
    if data[0] != 0x04 {
        return Err(EciesError::InvalidPublicKey);
    }
    let remote =
        PublicKey::from_slice(&data[..PUBLIC_KEY_LEN]).map_err(|_| EciesError::InvalidPublicKey)?;
    let (enc_key, mac_key) = derive_keys(&ecdh_x(&remote, secret));
    let tag_start = data.len() - TAG_LEN;
    let (body, received_tag) = data[PUBLIC_KEY_LEN..].split_at_mut(tag_start - PUBLIC_KEY_LEN);
    tag(&mac_key, body, shared_mac_data)
        .verify_slice(received_tag)
        .map_err(|_| EciesError::BadMac)?;
    let (iv, ciphertext) = body.split_at_mut(IV_LEN);
    let iv: [u8; IV_LEN] = (&*iv).try_into().expect("split at IV_LEN");
    Aes128Ctr::new(&enc_key.into(), &iv.into()).apply_keystream(ciphertext);
    Ok(ciphertext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn round_trip_and_tamper() {
        let mut rng = StdRng::seed_from_u64(7);
        let sk = node_key_from_rng(&mut rng);
        let pk = PublicKey::from_secret_key(&sk);
        let mut out = Vec::new();
        encrypt(&pk, b"hello ecies", b"\x01\x02", &mut rng, &mut out);
        assert_eq!(out.len(), ECIES_OVERHEAD + 11);

        let mut copy = out.clone();
        assert_eq!(
            decrypt(&sk, &mut copy, b"\x01\x02").unwrap(),
            b"hello ecies"
        );

        let mut copy = out.clone();
        assert_eq!(
            decrypt(&sk, &mut copy, b"\x01\x03"),
            Err(EciesError::BadMac)
        );

        let mut copy = out.clone();
        copy[70] ^= 1;
        assert_eq!(
            decrypt(&sk, &mut copy, b"\x01\x02"),
            Err(EciesError::BadMac)
        );

        let other = node_key_from_rng(&mut rng);
        let mut copy = out.clone();
        assert_eq!(
            decrypt(&other, &mut copy, b"\x01\x02"),
            Err(EciesError::BadMac)
        );

        let mut short = out[..ECIES_OVERHEAD - 1].to_vec();
        assert!(matches!(
            decrypt(&sk, &mut short, b""),
            Err(EciesError::TooShort { .. })
        ));
        let mut bad_key = out.clone();
        bad_key[0] = 0x05;
        assert_eq!(
            decrypt(&sk, &mut bad_key, b"\x01\x02"),
            Err(EciesError::InvalidPublicKey)
        );
    }
}
