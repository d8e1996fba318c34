//! The RLPx handshake without I/O: auth and ack messages in both the EIP-8
//! and the legacy (pre-EIP-8) format, the two roles' state, and the
//! derivation of the connection [`Secrets`].
//!
//! Initiator: [`Initiator::new`] builds the auth packet, [`Initiator::finish`]
//! reads the ack. Recipient: [`Recipient::respond`] reads the auth and builds
//! the ack. Both end with [`Secrets`] for [`super::FrameCodec`].

use alloy_rlp::{Encodable, Header};
use devp2p_identity::rlp_item::{Item, List};
use rand::{CryptoRng, RngExt};
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, PublicKey, SecretKey};

use super::ecies::{self, ecdh_x, ECIES_OVERHEAD};
use super::error::{MessageError, RlpxError};
use super::mac::MacState;
use devp2p_identity::{keccak256, node_key_from_rng, NodeId, NODE_ID_LEN};

/// Handshake version we announce in auth and ack (RLPx spec, EIP-8).
pub const PROTOCOL_VERSION: u64 = 4;
/// Size in bytes of a legacy auth packet: 194 plaintext + 113 ECIES overhead
/// (EIP-8, "pre-EIP-8 auth").
pub const LEGACY_AUTH_SIZE: usize = 194 + ECIES_OVERHEAD;
/// Size in bytes of a legacy ack packet: 97 plaintext + 113 ECIES overhead
/// (EIP-8, "pre-EIP-8 ack").
pub const LEGACY_ACK_SIZE: usize = 97 + ECIES_OVERHEAD;
/// Largest EIP-8 handshake packet body we accept, in bytes (size prefix
/// value). Real packets are < 800 bytes; the issue fixes the limit at 2048.
pub const MAX_HANDSHAKE_PACKET_SIZE: usize = 2048;
/// Length of the EIP-8 size prefix in bytes.
pub const SIZE_PREFIX_LEN: usize = 2;
/// Random padding we add to EIP-8 auth/ack bodies, in bytes (EIP-8 asks for
/// at least 100 so packets are distinguishable from legacy ones).
pub const PADDING_RANGE: std::ops::RangeInclusive<usize> = 100..=300;

const SIGNATURE_LEN: usize = 65;
const NONCE_LEN: usize = 32;

/// A node's static key prepared for handshakes: the secret and its node id
/// (computed once). Build it once per node and share it. (secp256k1 keeps
/// its context per thread since 0.33; there is none to cache here.)
#[derive(Clone)]
pub struct HandshakeKey {
    secret: SecretKey,
    id: NodeId,
}

impl std::fmt::Debug for HandshakeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandshakeKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl HandshakeKey {
    /// Prepares `secret` for handshakes.
    pub fn new(secret: SecretKey) -> Self {
        let id = NodeId::from_public_key(&devp2p_identity::secp::public_key(&secret));
        HandshakeKey { secret, id }
    }

    /// Our node id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Our static secret key.
    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }
}

/// Which on-wire format a handshake packet used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketFormat {
    /// Pre-EIP-8: fixed-size plaintext, no size prefix.
    Legacy,
    /// EIP-8: 2-byte size prefix, RLP body, padding.
    Eip8,
}

/// The initiator's auth message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthMessage {
    /// Recoverable signature `r || s || v` by the initiator's ephemeral key
    /// over `static-shared-secret ^ nonce`.
    pub signature: [u8; SIGNATURE_LEN],
    /// The initiator's static public key.
    pub initiator_id: NodeId,
    /// The initiator's nonce.
    pub nonce: [u8; NONCE_LEN],
    /// Announced version (4 for us; anything is accepted).
    pub version: u64,
}

/// The recipient's ack message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckMessage {
    /// The recipient's ephemeral public key.
    pub ephemeral_id: NodeId,
    /// The recipient's nonce.
    pub nonce: [u8; NONCE_LEN],
    /// Announced version (4 for us; anything is accepted).
    pub version: u64,
}

fn fixed<const N: usize>(field: &'static str, bytes: &[u8]) -> Result<[u8; N], MessageError> {
    bytes.try_into().map_err(|_| MessageError::BadLength {
        field,
        got: bytes.len(),
        want: N,
    })
}

/// Decodes the version element leniently: EIP-8 says version mismatches are
/// ignored, so an oversized number saturates instead of failing, and leading
/// zero bytes are accepted.
fn lenient_version(item: &Item<'_>) -> u64 {
    let data = item.payload;
    if data.len() > 8 {
        return u64::MAX;
    }
    data.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// The elements of an EIP-8 auth or ack body: an RLP list, followed by
/// random padding that is ignored.
fn body_fields(body: &[u8]) -> Result<List<'_>, MessageError> {
    Ok(Item::first(body)?.list()?)
}

/// The header of an RLP list whose payload is the encodings of `fields`.
fn list_header(fields: &[&dyn Encodable]) -> Header {
    Header {
        list: true,
        payload_length: fields.iter().map(|f| f.length()).sum(),
    }
}

fn xor32(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = *a;
    for (o, x) in out.iter_mut().zip(b) {
        *o ^= x;
    }
    out
}

fn public_key(field: &'static str, id: &NodeId) -> Result<PublicKey, MessageError> {
    id.to_public_key()
        .map_err(|_| MessageError::InvalidPublicKey { field })
}

impl AuthMessage {
    /// Decodes an EIP-8 auth body: an RLP list of at least four elements;
    /// extra elements and trailing padding are ignored.
    pub fn decode_eip8(body: &[u8]) -> Result<Self, MessageError> {
        let mut fields = body_fields(body)?;
        Ok(AuthMessage {
            signature: fixed("signature", fields.next_bytes()?)?,
            initiator_id: NodeId(fixed("initiator public key", fields.next_bytes()?)?),
            nonce: fixed("nonce", fields.next_bytes()?)?,
            version: lenient_version(&fields.next_item()?),
        })
    }

    /// Decodes a legacy auth plaintext:
    /// `signature (65) || keccak256(ephemeral key) (32) || public key (64) || nonce (32) || 0x00`.
    /// The ephemeral-key hash is not checked (the signature already binds the key).
    pub fn decode_legacy(plain: &[u8]) -> Result<Self, MessageError> {
        let want = LEGACY_AUTH_SIZE - ECIES_OVERHEAD;
        if plain.len() != want {
            return Err(MessageError::BadLength {
                field: "legacy auth",
                got: plain.len(),
                want,
            });
        }
        Ok(AuthMessage {
            signature: fixed("signature", &plain[..65])?,
            initiator_id: NodeId(fixed("initiator public key", &plain[97..161])?),
            nonce: fixed("nonce", &plain[161..193])?,
            version: PROTOCOL_VERSION,
        })
    }

    /// Appends the EIP-8 RLP body (without padding).
    pub fn encode_eip8(&self, out: &mut Vec<u8>) {
        let fields: [&dyn Encodable; 4] = [
            &self.signature,
            &self.initiator_id.0,
            &self.nonce,
            &self.version,
        ];
        list_header(&fields).encode(out);
        fields.iter().for_each(|f| f.encode(out));
    }

    /// Recovers the initiator's ephemeral public key from the signature,
    /// given `static-shared-secret = ecdh(recipient key, initiator key)`.
    pub fn recover_ephemeral(&self, static_shared: &[u8; 32]) -> Result<PublicKey, MessageError> {
        let recid = RecoveryId::try_from(i32::from(self.signature[64]))
            .map_err(|_| MessageError::InvalidSignature)?;
        let sig = RecoverableSignature::from_compact(&self.signature[..64], recid)
            .map_err(|_| MessageError::InvalidSignature)?;
        let msg = Message::from_digest(xor32(static_shared, &self.nonce));
        sig.recover_ecdsa(msg)
            .map_err(|_| MessageError::InvalidSignature)
    }
}

impl AckMessage {
    /// Decodes an EIP-8 ack body: an RLP list of at least three elements;
    /// extra elements and trailing padding are ignored.
    pub fn decode_eip8(body: &[u8]) -> Result<Self, MessageError> {
        let mut fields = body_fields(body)?;
        Ok(AckMessage {
            ephemeral_id: NodeId(fixed("ephemeral public key", fields.next_bytes()?)?),
            nonce: fixed("nonce", fields.next_bytes()?)?,
            version: lenient_version(&fields.next_item()?),
        })
    }

    /// Decodes a legacy ack plaintext: `ephemeral key (64) || nonce (32) || 0x00`.
    pub fn decode_legacy(plain: &[u8]) -> Result<Self, MessageError> {
        let want = LEGACY_ACK_SIZE - ECIES_OVERHEAD;
        if plain.len() != want {
            return Err(MessageError::BadLength {
                field: "legacy ack",
                got: plain.len(),
                want,
            });
        }
        Ok(AckMessage {
            ephemeral_id: NodeId(fixed("ephemeral public key", &plain[..64])?),
            nonce: fixed("nonce", &plain[64..96])?,
            version: PROTOCOL_VERSION,
        })
    }

    /// Appends the EIP-8 RLP body (without padding).
    pub fn encode_eip8(&self, out: &mut Vec<u8>) {
        let fields: [&dyn Encodable; 3] = [&self.ephemeral_id.0, &self.nonce, &self.version];
        list_header(&fields).encode(out);
        fields.iter().for_each(|f| f.encode(out));
    }

    /// The legacy plaintext.
    pub fn encode_legacy(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(LEGACY_ACK_SIZE - ECIES_OVERHEAD);
        out.extend_from_slice(&self.ephemeral_id.0);
        out.extend_from_slice(&self.nonce);
        out.push(0);
        out
    }
}

/// Total length of a handshake packet whose first two bytes are `prefix`,
/// for the EIP-8 reading of those bytes. Fails when the announced size is
/// above [`MAX_HANDSHAKE_PACKET_SIZE`], before anything else is read.
pub fn eip8_packet_len(prefix: [u8; SIZE_PREFIX_LEN]) -> Result<usize, RlpxError> {
    let size = usize::from(u16::from_be_bytes(prefix));
    if size > MAX_HANDSHAKE_PACKET_SIZE {
        return Err(RlpxError::HandshakePacketTooLarge {
            size,
            max: MAX_HANDSHAKE_PACKET_SIZE,
        });
    }
    Ok(SIZE_PREFIX_LEN + size)
}

/// Whether a packet starting with `first_byte` may be a legacy packet: those
/// start with the uncompressed ECIES public key, tag `0x04`.
pub fn may_be_legacy(first_byte: u8) -> bool {
    first_byte == 0x04
}

/// Decrypts a complete handshake packet (legacy when it has the legacy size
/// and starts like one, else EIP-8) and returns the plaintext body.
fn open_packet(
    secret: &SecretKey,
    packet: &[u8],
    legacy_size: usize,
) -> Result<(Vec<u8>, PacketFormat), RlpxError> {
    if packet.len() == legacy_size && may_be_legacy(packet[0]) {
        let mut buf = packet.to_vec();
        let plain = ecies::decrypt(secret, &mut buf, &[])?.to_vec();
        return Ok((plain, PacketFormat::Legacy));
    }
    if packet.len() < SIZE_PREFIX_LEN {
        return Err(super::error::EciesError::TooShort {
            size: packet.len(),
            min: ECIES_OVERHEAD,
        }
        .into());
    }
    let (prefix, body) = packet.split_at(SIZE_PREFIX_LEN);
    let total = eip8_packet_len([prefix[0], prefix[1]])?;
    if total != packet.len() {
        return Err(RlpxError::HandshakeLengthMismatch {
            declared: total,
            got: packet.len(),
        });
    }
    let mut buf = body.to_vec();
    let plain = ecies::decrypt(secret, &mut buf, prefix)?.to_vec();
    Ok((plain, PacketFormat::Eip8))
}

/// Decrypts and decodes a complete auth packet with the recipient's key.
pub fn decode_auth(
    secret: &SecretKey,
    packet: &[u8],
) -> Result<(AuthMessage, PacketFormat), RlpxError> {
    let (plain, format) = open_packet(secret, packet, LEGACY_AUTH_SIZE)?;
    let msg = match format {
        PacketFormat::Legacy => AuthMessage::decode_legacy(&plain),
        PacketFormat::Eip8 => AuthMessage::decode_eip8(&plain),
    }
    .map_err(RlpxError::BadAuth)?;
    Ok((msg, format))
}

/// Decrypts and decodes a complete ack packet with the initiator's key.
pub fn decode_ack(
    secret: &SecretKey,
    packet: &[u8],
) -> Result<(AckMessage, PacketFormat), RlpxError> {
    let (plain, format) = open_packet(secret, packet, LEGACY_ACK_SIZE)?;
    let msg = match format {
        PacketFormat::Legacy => AckMessage::decode_legacy(&plain),
        PacketFormat::Eip8 => AckMessage::decode_eip8(&plain),
    }
    .map_err(RlpxError::BadAck)?;
    Ok((msg, format))
}

/// Seals an RLP body as an EIP-8 packet: random padding, size prefix, ECIES
/// with the prefix as shared MAC data.
fn seal_eip8<R: CryptoRng + ?Sized>(remote: &PublicKey, mut body: Vec<u8>, rng: &mut R) -> Vec<u8> {
    let padding = rng.random_range(PADDING_RANGE);
    body.resize(body.len() + padding, 0);
    let size = (body.len() + ECIES_OVERHEAD) as u16;
    let mut packet = Vec::with_capacity(SIZE_PREFIX_LEN + usize::from(size));
    packet.extend_from_slice(&size.to_be_bytes());
    let prefix = size.to_be_bytes();
    ecies::encrypt(remote, &body, &prefix, rng, &mut packet);
    packet
}

/// Builds a legacy (pre-EIP-8) auth packet. We never send these; it exists
/// so tests and fuzzers can exercise the recipient's legacy path.
pub fn encode_legacy_auth<R: CryptoRng + ?Sized>(
    key: &HandshakeKey,
    remote: &PublicKey,
    ephemeral: &SecretKey,
    nonce: &[u8; 32],
    rng: &mut R,
) -> Vec<u8> {
    let signature = sign_auth(key, remote, ephemeral, nonce);
    let ephemeral_pub = devp2p_identity::secp::public_key(ephemeral);
    let mut plain = Vec::with_capacity(LEGACY_AUTH_SIZE - ECIES_OVERHEAD);
    plain.extend_from_slice(&signature);
    plain.extend_from_slice(&keccak256(&ephemeral_pub.serialize_uncompressed()[1..]));
    plain.extend_from_slice(&key.id.0);
    plain.extend_from_slice(nonce);
    plain.push(0);
    let mut packet = Vec::with_capacity(LEGACY_AUTH_SIZE);
    ecies::encrypt(remote, &plain, &[], rng, &mut packet);
    packet
}

fn sign_auth(
    key: &HandshakeKey,
    remote: &PublicKey,
    ephemeral: &SecretKey,
    nonce: &[u8; 32],
) -> [u8; SIGNATURE_LEN] {
    let static_shared = ecdh_x(remote, &key.secret);
    let digest = xor32(&static_shared, nonce);
    let (recid, compact) =
        devp2p_identity::secp::sign_recoverable(digest, ephemeral).serialize_compact();
    let mut signature = [0u8; SIGNATURE_LEN];
    signature[..64].copy_from_slice(&compact);
    signature[64] = recid.to_u8();
    signature
}

/// The secrets of an established connection, from which the frame codec is
/// built (RLPx spec, "Secrets").
#[derive(Debug, Clone)]
pub struct Secrets {
    /// Key of the AES-256-CTR frame cipher.
    pub aes_secret: [u8; 32],
    /// Key of the AES-256 block cipher inside the MACs.
    pub mac_secret: [u8; 32],
    /// MAC over what we send.
    pub egress_mac: MacState,
    /// MAC over what we receive.
    pub ingress_mac: MacState,
    /// The remote node's static id.
    pub remote_id: NodeId,
}

/// Everything [`Secrets::derive`] needs from a finished handshake.
#[derive(Debug, Clone, Copy)]
pub struct HandshakeTranscript<'a> {
    /// True for the side that sent the auth.
    pub initiator: bool,
    /// Our ephemeral secret key.
    pub local_ephemeral: &'a SecretKey,
    /// The peer's ephemeral public key.
    pub remote_ephemeral: &'a PublicKey,
    /// Nonce from the auth.
    pub initiator_nonce: &'a [u8; 32],
    /// Nonce from the ack.
    pub recipient_nonce: &'a [u8; 32],
    /// The auth packet exactly as sent (with its size prefix for EIP-8).
    pub auth: &'a [u8],
    /// The ack packet exactly as sent.
    pub ack: &'a [u8],
    /// The peer's static node id.
    pub remote_id: NodeId,
}

impl Secrets {
    /// Derives the connection secrets:
    /// `shared = keccak(ephemeral-key || keccak(recipient-nonce || initiator-nonce))`,
    /// `aes = keccak(ephemeral-key || shared)`, `mac = keccak(ephemeral-key || aes)`,
    /// initiator egress MAC seeded with `(mac ^ recipient-nonce) || auth`, ingress
    /// with `(mac ^ initiator-nonce) || ack`; the recipient mirrors it.
    pub fn derive(t: &HandshakeTranscript<'_>) -> Self {
        let ephemeral_key = ecdh_x(t.remote_ephemeral, t.local_ephemeral);
        let mut nonces = [0u8; 64];
        nonces[..32].copy_from_slice(t.recipient_nonce);
        nonces[32..].copy_from_slice(t.initiator_nonce);
        let mut buf = [0u8; 64];
        buf[..32].copy_from_slice(&ephemeral_key);
        buf[32..].copy_from_slice(&keccak256(&nonces));
        let shared_secret = keccak256(&buf);
        buf[32..].copy_from_slice(&shared_secret);
        let aes_secret = keccak256(&buf);
        buf[32..].copy_from_slice(&aes_secret);
        let mac_secret = keccak256(&buf);

        let mac_for = |nonce: &[u8; 32], packet: &[u8]| {
            let mut m = MacState::new();
            m.update(&xor32(&mac_secret, nonce));
            m.update(packet);
            m
        };
        // Sent auth -> MAC seeded with the other side's (recipient) nonce.
        let auth_side = mac_for(t.recipient_nonce, t.auth);
        let ack_side = mac_for(t.initiator_nonce, t.ack);
        let (egress_mac, ingress_mac) = if t.initiator {
            (auth_side, ack_side)
        } else {
            (ack_side, auth_side)
        };
        Secrets {
            aes_secret,
            mac_secret,
            egress_mac,
            ingress_mac,
            remote_id: t.remote_id,
        }
    }
}

/// The initiator's side of a handshake in progress: auth sent, waiting for ack.
#[derive(Debug)]
pub struct Initiator {
    ephemeral: SecretKey,
    nonce: [u8; 32],
    remote_id: NodeId,
    auth: Vec<u8>,
}

impl Initiator {
    /// Starts a handshake with `remote` using a fresh ephemeral key and nonce.
    pub fn new<R: CryptoRng + ?Sized>(
        key: &HandshakeKey,
        remote: NodeId,
        rng: &mut R,
    ) -> Result<Self, RlpxError> {
        let ephemeral = node_key_from_rng(rng);
        let mut nonce = [0u8; 32];
        rng.fill_bytes(&mut nonce);
        Self::with_ephemeral(key, remote, ephemeral, nonce, rng)
    }

    /// Starts a handshake with a given ephemeral key and nonce (for tests).
    pub fn with_ephemeral<R: CryptoRng + ?Sized>(
        key: &HandshakeKey,
        remote: NodeId,
        ephemeral: SecretKey,
        nonce: [u8; 32],
        rng: &mut R,
    ) -> Result<Self, RlpxError> {
        let remote_pk = remote
            .to_public_key()
            .map_err(|_| RlpxError::InvalidRemoteId)?;
        let msg = AuthMessage {
            signature: sign_auth(key, &remote_pk, &ephemeral, &nonce),
            initiator_id: key.id,
            nonce,
            version: PROTOCOL_VERSION,
        };
        let mut body = Vec::with_capacity(200 + *PADDING_RANGE.end());
        msg.encode_eip8(&mut body);
        let auth = seal_eip8(&remote_pk, body, rng);
        Ok(Initiator {
            ephemeral,
            nonce,
            remote_id: remote,
            auth,
        })
    }

    /// The auth packet to send.
    pub fn auth_packet(&self) -> &[u8] {
        &self.auth
    }

    /// Reads the recipient's ack packet (legacy or EIP-8) and derives the secrets.
    pub fn finish(self, key: &HandshakeKey, ack_packet: &[u8]) -> Result<Secrets, RlpxError> {
        let (ack, _) = decode_ack(&key.secret, ack_packet)?;
        let remote_ephemeral =
            public_key("ephemeral public key", &ack.ephemeral_id).map_err(RlpxError::BadAck)?;
        Ok(Secrets::derive(&HandshakeTranscript {
            initiator: true,
            local_ephemeral: &self.ephemeral,
            remote_ephemeral: &remote_ephemeral,
            initiator_nonce: &self.nonce,
            recipient_nonce: &ack.nonce,
            auth: &self.auth,
            ack: ack_packet,
            remote_id: self.remote_id,
        }))
    }
}

/// The recipient's side of a handshake.
#[derive(Debug)]
pub struct Recipient;

impl Recipient {
    /// Reads an auth packet (legacy or EIP-8), answers in the same format,
    /// and returns the secrets and the ack packet to send.
    pub fn respond<R: CryptoRng + ?Sized>(
        key: &HandshakeKey,
        auth_packet: &[u8],
        rng: &mut R,
    ) -> Result<(Secrets, Vec<u8>), RlpxError> {
        let ephemeral = node_key_from_rng(rng);
        let mut nonce = [0u8; 32];
        rng.fill_bytes(&mut nonce);
        Self::respond_with_ephemeral(key, auth_packet, ephemeral, nonce, rng)
    }

    /// [`Recipient::respond`] with a given ephemeral key and nonce (for tests).
    pub fn respond_with_ephemeral<R: CryptoRng + ?Sized>(
        key: &HandshakeKey,
        auth_packet: &[u8],
        ephemeral: SecretKey,
        nonce: [u8; 32],
        rng: &mut R,
    ) -> Result<(Secrets, Vec<u8>), RlpxError> {
        let (auth, format) = decode_auth(&key.secret, auth_packet)?;
        let initiator_pk =
            public_key("initiator public key", &auth.initiator_id).map_err(RlpxError::BadAuth)?;
        let static_shared = ecdh_x(&initiator_pk, &key.secret);
        let remote_ephemeral = auth
            .recover_ephemeral(&static_shared)
            .map_err(RlpxError::BadAuth)?;

        let ack = AckMessage {
            ephemeral_id: NodeId::from_public_key(&devp2p_identity::secp::public_key(&ephemeral)),
            nonce,
            version: PROTOCOL_VERSION,
        };
        let ack_packet = match format {
            PacketFormat::Eip8 => {
                let mut body = Vec::with_capacity(NODE_ID_LEN + 40 + *PADDING_RANGE.end());
                ack.encode_eip8(&mut body);
                seal_eip8(&initiator_pk, body, rng)
            }
            PacketFormat::Legacy => {
                let mut packet = Vec::with_capacity(LEGACY_ACK_SIZE);
                ecies::encrypt(&initiator_pk, &ack.encode_legacy(), &[], rng, &mut packet);
                packet
            }
        };
        let secrets = Secrets::derive(&HandshakeTranscript {
            initiator: false,
            local_ephemeral: &ephemeral,
            remote_ephemeral: &remote_ephemeral,
            initiator_nonce: &auth.nonce,
            recipient_nonce: &nonce,
            auth: auth_packet,
            ack: &ack_packet,
            remote_id: auth.initiator_id,
        });
        Ok((secrets, ack_packet))
    }
}
