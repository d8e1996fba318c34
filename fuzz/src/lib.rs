//! Shared fixtures for the fuzz targets and the seed generator: the fixed
//! keys of EIP-8's test vectors, one RLPx session's secrets, a frame writer
//! that can forge headers, a byte cursor for structured inputs, and the
//! lookup of the shared spec vectors.
//!
//! Every target reads its input as `mode byte || rest` where it has several
//! entry points; `gen_seeds` writes seeds in the same layout.

use std::collections::HashMap;
use std::sync::OnceLock;

use aes::cipher::{KeyIvInit, StreamCipher};
use bytes::{BufMut, BytesMut};
use devp2p::rlpx::{mac_cipher, HandshakeKey, Initiator, MacCipher, MacState, Recipient, Secrets};
use rand::rngs::StdRng;
use rand::SeedableRng;
use secp256k1::SecretKey;

/// Every fuzz target, in the order `run.sh` runs them.
pub const TARGETS: [&str; 12] = [
    "rlpx_auth",
    "rlpx_ack",
    "rlpx_frame",
    "hello",
    "disconnect",
    "snappy_msg",
    "discv4_packet",
    "enr_rlp",
    "enr_text",
    "enode_url",
    "nodekey",
    "config_toml",
];

/// Node A's static key in EIP-8's handshake vectors: the initiator, whose
/// key decrypts the acks.
pub const KEY_A_HEX: &str = "49a7b37aa6f6645917e7b807e9d1c00d4fa71f18343b0d4122a4d2df64dd6fee";
/// Node B's static key in EIP-8's handshake vectors (also the discv4 and
/// EIP-778 example key): the recipient, whose key decrypts the auths.
pub const KEY_B_HEX: &str = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291";
/// Node A's ephemeral key in EIP-8's vectors.
pub const EPHEMERAL_A_HEX: &str =
    "869d6ecf5211f1cc60418a13b9d870b22959d0c16f02bec714c960dd2298a32d";
/// Node B's ephemeral key in EIP-8's vectors.
pub const EPHEMERAL_B_HEX: &str =
    "e238eb8e04fee6511ab04c6dd3c89ce097b11f25d584863ac2b6d5b35b1847e4";

/// Seed of every RNG the fixtures use, so runs are reproducible.
pub const RNG_SEED: u64 = 0x0f22_2024;

/// A secret key from 64 hex characters (fixtures only).
pub fn secret(hex_key: &str) -> SecretKey {
    SecretKey::from_secret_bytes(
        hex::decode(hex_key)
            .expect("hex")
            .try_into()
            .expect("32 bytes"),
    )
    .expect("valid key")
}

/// Node A's prepared key (initiator).
pub fn key_a() -> &'static HandshakeKey {
    static K: OnceLock<HandshakeKey> = OnceLock::new();
    K.get_or_init(|| HandshakeKey::new(secret(KEY_A_HEX)))
}

/// Node B's prepared key (recipient).
pub fn key_b() -> &'static HandshakeKey {
    static K: OnceLock<HandshakeKey> = OnceLock::new();
    K.get_or_init(|| HandshakeKey::new(secret(KEY_B_HEX)))
}

/// A deterministic RNG.
pub fn rng() -> StdRng {
    StdRng::seed_from_u64(RNG_SEED)
}

/// The secrets of one RLPx session between A (initiator) and B, from a real
/// handshake with fixed keys and nonces: `(A's, B's)`.
pub fn session() -> &'static (Secrets, Secrets) {
    static S: OnceLock<(Secrets, Secrets)> = OnceLock::new();
    S.get_or_init(|| {
        let mut rng = rng();
        let init = Initiator::with_ephemeral(
            key_a(),
            key_b().id(),
            secret(EPHEMERAL_A_HEX),
            [0xa1; 32],
            &mut rng,
        )
        .expect("initiator");
        let (b, ack) = Recipient::respond_with_ephemeral(
            key_b(),
            init.auth_packet(),
            secret(EPHEMERAL_B_HEX),
            [0xb2; 32],
            &mut rng,
        )
        .expect("recipient");
        let a = init.finish(key_a(), &ack).expect("initiator finishes");
        (a, b)
    })
}

type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

/// The sending side of a session that writes frames with any header: the
/// same cipher and MAC steps as `FrameCodec::encode_frame`, but the 16-byte
/// header plaintext (size field included) and the body length are the
/// caller's, so the reader sees authentic frames that lie about their size.
pub struct FrameForger {
    aes: Aes256Ctr,
    mac: MacState,
    mac_cipher: MacCipher,
}

impl FrameForger {
    /// A forger continuing `secrets`' egress direction from its start.
    pub fn new(secrets: &Secrets) -> Self {
        FrameForger {
            aes: Aes256Ctr::new(&secrets.aes_secret.into(), &[0u8; 16].into()),
            mac: secrets.egress_mac.clone(),
            mac_cipher: mac_cipher(&secrets.mac_secret),
        }
    }

    /// Appends a frame with header plaintext `header` and body `body`
    /// (padded with zeros to 16 bytes) to `dst`, with valid MACs.
    pub fn frame(&mut self, header: [u8; 16], body: &[u8], dst: &mut BytesMut) {
        let mut header = header;
        self.aes.apply_keystream(&mut header);
        let header_mac = self.mac.update_header(&self.mac_cipher, &header);
        dst.put_slice(&header);
        dst.put_slice(&header_mac);
        let start = dst.len();
        dst.put_slice(body);
        dst.put_bytes(0, body.len().next_multiple_of(16) - body.len());
        let sealed = &mut dst[start..];
        self.aes.apply_keystream(sealed);
        let frame_mac = self.mac.update_body(&self.mac_cipher, sealed);
        dst.put_slice(&frame_mac);
    }
}

/// A cursor over fuzz input for structured targets; reads past the end
/// yield zeros / empty slices, never panic.
pub struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Cursor { data }
    }

    /// Whether all input has been read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte (0 at the end).
    pub fn byte(&mut self) -> u8 {
        let (b, rest) = self.data.split_first().unwrap_or((&0, &[]));
        self.data = rest;
        *b
    }

    /// The next big-endian u16 (zero-extended at the end).
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    /// Up to `n` next bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// The remaining bytes.
    pub fn rest(&mut self) -> &'a [u8] {
        self.take(self.data.len())
    }
}

/// `testdata/eip8.txt` of the repository (the EIP-8 spec vectors), compiled in.
const EIP8_TXT: &str = include_str!("../../testdata/eip8.txt");

/// The `name: hex` entries of eip8.txt.
pub fn eip8_vectors() -> HashMap<String, Vec<u8>> {
    EIP8_TXT
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .filter_map(|(name, value)| {
            Some((name.trim().to_string(), hex::decode(value.trim()).ok()?))
        })
        .collect()
}
