//! The running egress/ingress MAC of an RLPx connection: a keccak256 sponge
//! whose digest is re-keyed through AES-256 (single-block, "ECB") with the
//! MAC secret, as the RLPx spec's "MAC" section describes.
//!
//! Both directions use the same MAC secret, so the block cipher is not part
//! of [`MacState`]: the frame codec keeps one [`MacCipher`] for both (an
//! AES-256 key schedule is 960 bytes; every byte counts per idle peer).

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes256Enc;
use sha3::Digest;

/// AES-256 (encryption only) keyed with the MAC secret.
pub type MacCipher = Aes256Enc;

/// The MAC block cipher for `mac_secret`.
pub fn mac_cipher(mac_secret: &[u8; 32]) -> MacCipher {
    Aes256Enc::new(mac_secret.into())
}

/// The keccak256 implementation used for the frame MACs: `keccak-asm`
/// (Cryptogams assembly) on x86_64 and aarch64, measured 15-30 % faster than
/// `sha3` there (`benches/rlpx.rs` prints both); pure-Rust `sha3` elsewhere.
/// Never build with `target-cpu=native` for speed: it made `sha3` about 2x
/// slower when measured.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub type Keccak = keccak_asm::Keccak256;
/// The keccak256 implementation used for the frame MACs (pure-Rust `sha3`
/// on this architecture; `keccak-asm` on x86_64 and aarch64).
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub type Keccak = sha3::Keccak256;

/// One direction's MAC state: keccak256 over everything authenticated so far.
///
/// A frame's MAC work takes three keccak digests here, not the four the
/// spec's steps spell out: the header step starts with the digest of the
/// state the previous frame's MAC step ended on, with nothing absorbed in
/// between, so that digest is the previous frame MAC, kept from then. At
/// 64-byte messages the digests are most of a frame's crypto, so this saves
/// about a fifth of it (`benches/rlpx.rs`, `benches/peer_cost.rs`).
#[derive(Clone)]
pub struct MacState {
    hasher: Keccak,
    /// `digest()[..16]` of the state as it is now, when already computed.
    digest16: Option<[u8; 16]>,
}

impl std::fmt::Debug for MacState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacState(..)")
    }
}

impl Default for MacState {
    fn default() -> Self {
        Self::new()
    }
}

impl MacState {
    /// A fresh state, before anything is absorbed.
    pub fn new() -> Self {
        MacState {
            hasher: Keccak::new(),
            digest16: None,
        }
    }

    /// Absorbs raw bytes (used to seed the state after the handshake).
    pub fn update(&mut self, data: &[u8]) {
        self.absorb(data);
    }

    fn absorb(&mut self, data: &[u8]) {
        self.digest16 = None;
        self.hasher.update(data);
    }

    /// keccak256 of everything absorbed so far; the state keeps running.
    pub fn digest(&self) -> [u8; 32] {
        self.hasher.clone().finalize().into()
    }

    /// `digest()[..16]`, computed at most once per state.
    fn digest16(&mut self) -> [u8; 16] {
        if let Some(d) = self.digest16 {
            return d;
        }
        let d = self.digest();
        let mut out = [0u8; 16];
        out.copy_from_slice(&d[..16]);
        self.digest16 = Some(out);
        out
    }

    /// Absorbs an encrypted frame header and returns its 16-byte header MAC:
    /// `seed = aes(mac-secret, digest[..16]) ^ header-ciphertext`,
    /// `update(seed)`, `mac = digest[..16]`.
    pub fn update_header(&mut self, cipher: &MacCipher, header_ciphertext: &[u8; 16]) -> [u8; 16] {
        let mut seed = self.digest16();
        cipher.encrypt_block((&mut seed).into());
        for (s, c) in seed.iter_mut().zip(header_ciphertext) {
            *s ^= c;
        }
        self.absorb(&seed);
        self.digest16()
    }

    /// Absorbs an encrypted frame body and returns its 16-byte frame MAC:
    /// `update(body)`, `seed = aes(mac-secret, digest[..16]) ^ digest[..16]`,
    /// `update(seed)`, `mac = digest[..16]`.
    pub fn update_body(&mut self, cipher: &MacCipher, body_ciphertext: &[u8]) -> [u8; 16] {
        self.absorb(body_ciphertext);
        let prev = self.digest16();
        let mut seed = prev;
        cipher.encrypt_block((&mut seed).into());
        for (s, p) in seed.iter_mut().zip(prev) {
            *s ^= p;
        }
        self.absorb(&seed);
        self.digest16()
    }
}

/// Compares two MACs without an early exit, so timing does not reveal how
/// many leading bytes matched.
pub(crate) fn macs_equal(a: &[u8; 16], b: &[u8]) -> bool {
    if b.len() != 16 {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's steps, every digest computed afresh.
    struct Reference(Keccak);

    impl Reference {
        fn digest16(&self) -> [u8; 16] {
            let d: [u8; 32] = self.0.clone().finalize().into();
            d[..16].try_into().unwrap()
        }

        fn seeded(&mut self, cipher: &MacCipher, xor: &[u8; 16]) -> [u8; 16] {
            let mut seed = self.digest16();
            cipher.encrypt_block((&mut seed).into());
            for (s, x) in seed.iter_mut().zip(xor) {
                *s ^= x;
            }
            self.0.update(seed);
            self.digest16()
        }
    }

    #[test]
    fn cached_digest_gives_the_specs_macs() {
        let cipher = mac_cipher(&[3u8; 32]);
        let mut ours = MacState::new();
        let mut reference = Reference(Keccak::new());
        ours.update(b"handshake seed");
        reference.0.update(b"handshake seed");
        for i in 0..50usize {
            let header = [i as u8; 16];
            assert_eq!(
                ours.update_header(&cipher, &header),
                reference.seeded(&cipher, &header),
                "header {i}"
            );
            // Bodies across the keccak rate (136 bytes) and empty ones.
            let body = vec![(i * 7) as u8; (i * 37) % 400];
            reference.0.update(&body);
            let prev = reference.digest16();
            assert_eq!(
                ours.update_body(&cipher, &body),
                reference.seeded(&cipher, &prev),
                "frame {i}"
            );
            if i % 10 == 9 {
                // Raw absorption in between invalidates the kept digest.
                ours.update(b"x");
                reference.0.update(b"x");
            }
            assert_eq!(
                ours.digest(),
                <[u8; 32]>::from(reference.0.clone().finalize())
            );
        }
    }
}
