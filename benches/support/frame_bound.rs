//! The per-frame crypto bound of one side of an RLPx stream, shared by the
//! peer benches: what a sender (or a receiver) cannot avoid per message.
#![allow(dead_code)]

use std::hint::black_box;

use aes::cipher::{BlockEncrypt, KeyInit, KeyIvInit, StreamCipher};
// The bound uses the MACs' keccak backend (keccak-asm where available).
use devp2p::rlpx::Keccak as Keccak256;
use sha3::Digest;

type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

/// One side's cryptographic work per frame (RLPx spec, "Framing" and
/// "MAC"): AES-256-CTR over the 16-byte header and the padded body, the
/// keccak256 absorption of the body and of the two 16-byte MAC seeds, three
/// digests (the construction reads four, but the header step's first is the
/// previous frame MAC, kept from then: see `devp2p_rlpx::mac::MacState`), and
/// the two single-block AES encryptions of those seeds. No copies, no
/// allocation, no I/O.
pub struct SideBound {
    ctr: Aes256Ctr,
    block: aes::Aes256Enc,
    mac: Keccak256,
    /// The previous frame MAC: the digest the next header step starts from.
    last_mac: [u8; 16],
    buf: Vec<u8>,
}

/// Frame body length of a message of `payload_len` bytes after snappy
/// (incompressible payload: snappy's literal encoding adds a few bytes) and
/// its 1-byte message code, padded to 16 bytes.
pub fn padded_body(payload_len: usize) -> usize {
    let body = 1 + snap::raw::max_compress_len(payload_len).min(payload_len + 8);
    body.div_ceil(16) * 16
}

impl SideBound {
    /// A bound for messages of `payload_len` bytes.
    pub fn new(payload_len: usize) -> Self {
        let key = [7u8; 32];
        SideBound {
            ctr: Aes256Ctr::new(&key.into(), &[0u8; 16].into()),
            block: aes::Aes256Enc::new(&[9u8; 32].into()),
            mac: Keccak256::new(),
            last_mac: [0u8; 16],
            buf: vec![0x5a; 16 + padded_body(payload_len)],
        }
    }

    /// The work of one frame.
    pub fn frame(&mut self) {
        self.ctr.apply_keystream(&mut self.buf);
        let mut seed = [0u8; 16];
        // Header MAC: encrypt the previous frame MAC, absorb it, digest.
        seed.copy_from_slice(&self.last_mac);
        self.block.encrypt_block((&mut seed).into());
        self.mac.update(seed);
        black_box(self.mac.clone().finalize());
        // Frame MAC: absorb the body, digest, encrypt the seed, absorb, digest.
        self.mac.update(&self.buf[16..]);
        seed.copy_from_slice(&self.mac.clone().finalize()[..16]);
        self.block.encrypt_block((&mut seed).into());
        self.mac.update(seed);
        self.last_mac
            .copy_from_slice(&black_box(self.mac.clone().finalize())[..16]);
    }
}
