//! Ethereum Node Records (EIP-778) with the "v4" identity scheme.
//!
//! A record is the RLP list `[signature, seq, k1, v1, k2, v2, ...]`: keys are
//! byte strings, sorted and unique; values are arbitrary RLP items (kept raw,
//! so unknown entries survive a decode/encode round trip byte-exact). The v4
//! signature is the 64-byte `r || s` secp256k1 signature of
//! `keccak256(rlp([seq, k1, v1, ...]))` by the key in the `secp256k1` entry.
//!
//! Written here rather than taken from the `enr` crate: that crate now
//! depends on another RLP library and its own secp256k1 version; we keep one
//! of each and control every limit (size checked before anything else, strict
//! canonical RLP) ourselves.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use alloy_rlp::{Encodable, Header};
use base64::Engine;
use secp256k1::{ecdsa, ecdsa::Signature, Message, PublicKey, SecretKey};

use super::id::{keccak256, NodeId};
use crate::rlp_item::{encode_list_header, Item};

/// Largest encoded record, in bytes (EIP-778: "implementations should
/// reject records larger than this size").
pub const MAX_ENR_SIZE: usize = 300;

/// Longest text form, in bytes: `enr:` plus unpadded base64 of
/// [`MAX_ENR_SIZE`] bytes (4 characters per 3 bytes).
pub const MAX_ENR_TEXT_LEN: usize = 4 + MAX_ENR_SIZE.div_ceil(3) * 4;

/// Length of a v4 signature: `r || s` without recovery id (EIP-778).
pub const ENR_SIGNATURE_LEN: usize = 64;

/// Length of a compressed secp256k1 public key, the `secp256k1` value (EIP-778).
pub const COMPRESSED_KEY_LEN: usize = 33;

/// Prefix of the text form.
const TEXT_PREFIX: &str = "enr:";
/// Name of the only identity scheme we know.
const V4: &[u8] = b"v4";

/// Pre-defined keys (EIP-778 table).
pub mod keys {
    /// Identity scheme name.
    pub const ID: &[u8] = b"id";
    /// Compressed secp256k1 public key.
    pub const SECP256K1: &[u8] = b"secp256k1";
    /// IPv4 address, 4 bytes.
    pub const IP: &[u8] = b"ip";
    /// IPv6 address, 16 bytes.
    pub const IP6: &[u8] = b"ip6";
    /// TCP port.
    pub const TCP: &[u8] = b"tcp";
    /// UDP port.
    pub const UDP: &[u8] = b"udp";
    /// IPv6-specific TCP port.
    pub const TCP6: &[u8] = b"tcp6";
    /// IPv6-specific UDP port.
    pub const UDP6: &[u8] = b"udp6";
}

/// Why a record could not be decoded, verified or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrError {
    /// The encoded record is larger than [`MAX_ENR_SIZE`] (checked first).
    #[error("record is {size} bytes, at most {MAX_ENR_SIZE} allowed")]
    TooLarge {
        /// Size in bytes.
        size: usize,
    },
    /// The text form is longer than [`MAX_ENR_TEXT_LEN`].
    #[error("record text is {len} bytes, at most {MAX_ENR_TEXT_LEN} allowed")]
    TextTooLong {
        /// Length in bytes.
        len: usize,
    },
    /// The text form does not start with `enr:`.
    #[error("record text does not start with \"enr:\"")]
    MissingPrefix,
    /// The text after `enr:` is not unpadded URL-safe base64.
    #[error("record text is not valid unpadded URL-safe base64")]
    BadBase64,
    /// The RLP ends before an item it declares.
    #[error("record RLP is truncated")]
    Truncated,
    /// Bytes follow the record list.
    #[error("{0} bytes after the record")]
    TrailingBytes(usize),
    /// The RLP is not in canonical (shortest) form.
    #[error("record RLP is not canonical")]
    NonCanonical,
    /// The record is not an RLP list, or an item that must be a string is a list.
    #[error("record {0} has the wrong RLP type")]
    WrongType(&'static str),
    /// The signature item is missing.
    #[error("record has no signature")]
    MissingSignature,
    /// The sequence number is missing, too big or not canonical.
    #[error("record sequence number is missing or invalid")]
    BadSeq,
    /// A key has no value (odd number of items after seq).
    #[error("record key {key:?} has no value")]
    MissingValue {
        /// The key, lossily as text.
        key: String,
    },
    /// Keys are not in ascending order.
    #[error("record key {key:?} is out of order")]
    NotSorted {
        /// The first out-of-order key, lossily as text.
        key: String,
    },
    /// A key appears twice.
    #[error("record key {key:?} appears twice")]
    DuplicateKey {
        /// The repeated key, lossily as text.
        key: String,
    },
    /// There is no `id` entry.
    #[error("record has no identity scheme")]
    MissingId,
    /// The `id` entry names a scheme other than "v4".
    #[error("record uses unsupported identity scheme {0:?}")]
    UnsupportedScheme(String),
    /// There is no `secp256k1` entry.
    #[error("record has no secp256k1 public key")]
    MissingPublicKey,
    /// The `secp256k1` entry is not a 33-byte compressed key on the curve.
    #[error("record secp256k1 public key is invalid")]
    BadPublicKey,
    /// The signature does not have [`ENR_SIGNATURE_LEN`] bytes.
    #[error("record signature is {len} bytes, want {ENR_SIGNATURE_LEN}")]
    BadSignatureLength {
        /// Its length.
        len: usize,
    },
    /// The signature does not verify against the record's key.
    #[error("invalid signature on node record")]
    BadSignature,
    /// A value is not a single canonical RLP item, or a well-known entry
    /// (ip, ports...) has the wrong shape.
    #[error("record value for key {key:?} is malformed")]
    BadValue {
        /// The key, lossily as text.
        key: String,
    },
    /// The builder was asked to set `id` or `secp256k1`, which signing sets.
    #[error("record key {key:?} is set by signing and cannot be set directly")]
    ReservedKey {
        /// The key, lossily as text.
        key: String,
    },
}

impl EnrError {
    /// True when the error means a remote peer sent an invalid record (as
    /// opposed to a local mistake while building one): the sender may be
    /// penalised and the record must be dropped.
    pub fn is_peer_fault(&self) -> bool {
        !matches!(self, EnrError::ReservedKey { .. })
    }

    /// A short fixed description, for APIs (like `alloy_rlp::Error::Custom`)
    /// that only take static strings.
    pub fn as_static_str(&self) -> &'static str {
        match self {
            EnrError::TooLarge { .. } => "enr: record too large",
            EnrError::TextTooLong { .. } => "enr: text too long",
            EnrError::MissingPrefix => "enr: missing enr: prefix",
            EnrError::BadBase64 => "enr: bad base64",
            EnrError::Truncated => "enr: truncated",
            EnrError::TrailingBytes(_) => "enr: trailing bytes",
            EnrError::NonCanonical => "enr: non-canonical rlp",
            EnrError::WrongType(_) => "enr: wrong rlp type",
            EnrError::MissingSignature => "enr: missing signature",
            EnrError::BadSeq => "enr: bad seq",
            EnrError::MissingValue { .. } => "enr: key without value",
            EnrError::NotSorted { .. } => "enr: keys not sorted",
            EnrError::DuplicateKey { .. } => "enr: duplicate key",
            EnrError::MissingId => "enr: missing id",
            EnrError::UnsupportedScheme(_) => "enr: unsupported identity scheme",
            EnrError::MissingPublicKey => "enr: missing secp256k1 key",
            EnrError::BadPublicKey => "enr: bad secp256k1 key",
            EnrError::BadSignatureLength { .. } => "enr: bad signature length",
            EnrError::BadSignature => "enr: invalid signature",
            EnrError::BadValue { .. } => "enr: malformed value",
            EnrError::ReservedKey { .. } => "enr: reserved key",
        }
    }
}

fn key_text(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

/// Reads the first RLP item of `buf` (canonical form enforced), returning it
/// and the bytes after it.
fn read_item(buf: &[u8]) -> Result<(Item<'_>, &[u8]), EnrError> {
    Item::read(buf).map_err(|e| match e {
        alloy_rlp::Error::LeadingZero
        | alloy_rlp::Error::NonCanonicalSingleByte
        | alloy_rlp::Error::NonCanonicalSize => EnrError::NonCanonical,
        // Input too short, or a length beyond any buffer.
        _ => EnrError::Truncated,
    })
}

/// Decodes a canonical unsigned integer of at most 8 bytes (no leading
/// zeros; zero is the empty string).
fn read_u64(item: &Item<'_>) -> Option<u64> {
    item.decode::<u64>().ok()
}

/// A verified node record with the "v4" identity scheme.
///
/// Only obtainable by decoding (which verifies) or by signing, so every
/// `Enr` value carries a valid signature.
#[derive(Clone)]
pub struct Enr {
    seq: u64,
    /// Sorted unique keys with their raw RLP values.
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
    signature: [u8; ENR_SIGNATURE_LEN],
    public_key: PublicKey,
    /// The canonical encoding, kept so `encode` is a copy.
    raw: Vec<u8>,
}

impl PartialEq for Enr {
    fn eq(&self, other: &Self) -> bool {
        // The encoding determines every other field.
        self.raw == other.raw
    }
}
impl Eq for Enr {}

impl std::hash::Hash for Enr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.raw.hash(state);
    }
}

impl fmt::Debug for Enr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enr")
            .field("seq", &self.seq)
            .field("id", &self.node_id())
            .field("ip", &self.ip4())
            .field("ip6", &self.ip6())
            .field("tcp", &self.tcp())
            .field("udp", &self.udp())
            .field("pairs", &self.pairs.len())
            .finish()
    }
}

impl Enr {
    /// Starts building a record (sequence number 1, like the EIP-778 example).
    pub fn builder() -> EnrBuilder {
        EnrBuilder::new()
    }

    /// Decodes and verifies a record. The size limit is checked before
    /// anything else; the RLP must be canonical, keys sorted and unique,
    /// the scheme "v4", and the signature valid.
    pub fn decode(bytes: &[u8]) -> Result<Enr, EnrError> {
        if bytes.len() > MAX_ENR_SIZE {
            return Err(EnrError::TooLarge { size: bytes.len() });
        }
        let (list, rest) = read_item(bytes)?;
        if !rest.is_empty() {
            return Err(EnrError::TrailingBytes(rest.len()));
        }
        if !list.is_list {
            return Err(EnrError::WrongType("list"));
        }
        let mut items = list.payload;
        if items.is_empty() {
            return Err(EnrError::MissingSignature);
        }
        let (sig, after_sig) = read_item(items)?;
        if sig.is_list {
            return Err(EnrError::WrongType("signature"));
        }
        let content = after_sig;
        items = after_sig;
        if items.is_empty() {
            return Err(EnrError::BadSeq);
        }
        let (seq_item, rest) = read_item(items)?;
        let seq = read_u64(&seq_item).ok_or(EnrError::BadSeq)?;
        items = rest;

        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        while !items.is_empty() {
            let (key, rest) = read_item(items)?;
            if key.is_list {
                return Err(EnrError::WrongType("key"));
            }
            if rest.is_empty() {
                return Err(EnrError::MissingValue {
                    key: key_text(key.payload),
                });
            }
            let (value, rest) = read_item(rest)?;
            if let Some((prev, _)) = pairs.last() {
                match prev.as_slice().cmp(key.payload) {
                    std::cmp::Ordering::Less => {}
                    std::cmp::Ordering::Equal => {
                        return Err(EnrError::DuplicateKey {
                            key: key_text(key.payload),
                        })
                    }
                    std::cmp::Ordering::Greater => {
                        return Err(EnrError::NotSorted {
                            key: key_text(key.payload),
                        })
                    }
                }
            }
            pairs.push((key.payload.to_vec(), value.raw.to_vec()));
            items = rest;
        }

        let find = |k: &[u8]| {
            pairs
                .binary_search_by(|(pk, _)| pk.as_slice().cmp(k))
                .ok()
                .map(|i| pairs[i].1.as_slice())
        };
        let id = find(keys::ID).ok_or(EnrError::MissingId)?;
        let id = string_value(id).ok_or(EnrError::BadValue {
            key: "id".to_string(),
        })?;
        if id != V4 {
            return Err(EnrError::UnsupportedScheme(key_text(id)));
        }
        let key = find(keys::SECP256K1).ok_or(EnrError::MissingPublicKey)?;
        let key = string_value(key)
            .filter(|k| k.len() == COMPRESSED_KEY_LEN)
            .ok_or(EnrError::BadPublicKey)?;
        let public_key = PublicKey::from_slice(key).map_err(|_| EnrError::BadPublicKey)?;
        let signature: [u8; ENR_SIGNATURE_LEN] =
            sig.payload
                .try_into()
                .map_err(|_| EnrError::BadSignatureLength {
                    len: sig.payload.len(),
                })?;

        let mut signed = Vec::with_capacity(content.len() + 3);
        encode_list_header(&mut signed, content.len());
        signed.extend_from_slice(content);
        verify_v4(&public_key, &signed, &signature)?;

        Ok(Enr {
            seq,
            pairs,
            signature,
            public_key,
            raw: bytes.to_vec(),
        })
    }

    /// The canonical RLP encoding (at most [`MAX_ENR_SIZE`] bytes).
    pub fn encode(&self) -> Vec<u8> {
        self.raw.clone()
    }

    /// The canonical RLP encoding, borrowed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// The sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The 64-byte `r || s` signature.
    pub fn signature(&self) -> &[u8; ENR_SIGNATURE_LEN] {
        &self.signature
    }

    /// The signer's public key (the `secp256k1` entry).
    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    /// The node ID of the signer.
    pub fn node_id(&self) -> NodeId {
        NodeId::from_public_key(&self.public_key)
    }

    /// The raw RLP value stored under `key`.
    pub fn get_raw(&self, key: &[u8]) -> Option<&[u8]> {
        self.pairs
            .binary_search_by(|(k, _)| k.as_slice().cmp(key))
            .ok()
            .map(|i| self.pairs[i].1.as_slice())
    }

    /// All key/value pairs in key order; values are raw RLP items.
    pub fn pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.pairs.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// Decodes a well-known entry: `Ok(None)` when absent, an error when malformed.
    fn typed<T>(&self, key: &[u8], f: impl Fn(&[u8]) -> Option<T>) -> Result<Option<T>, EnrError> {
        match self.get_raw(key) {
            None => Ok(None),
            Some(raw) => f(raw)
                .map(Some)
                .ok_or_else(|| EnrError::BadValue { key: key_text(key) }),
        }
    }

    /// The `ip` entry, checked: `Ok(None)` when absent.
    pub fn try_ip4(&self) -> Result<Option<Ipv4Addr>, EnrError> {
        self.typed(keys::IP, |raw| {
            let b: [u8; 4] = string_value(raw)?.try_into().ok()?;
            Some(Ipv4Addr::from(b))
        })
    }

    /// The `ip6` entry, checked: `Ok(None)` when absent.
    pub fn try_ip6(&self) -> Result<Option<Ipv6Addr>, EnrError> {
        self.typed(keys::IP6, |raw| {
            let b: [u8; 16] = string_value(raw)?.try_into().ok()?;
            Some(Ipv6Addr::from(b))
        })
    }

    /// A port entry (`tcp`, `udp`, `tcp6`, `udp6`), checked: `Ok(None)` when absent.
    pub fn try_port(&self, key: &[u8]) -> Result<Option<u16>, EnrError> {
        self.typed(key, |raw| {
            let (item, _) = read_item(raw).ok()?;
            u16::try_from(read_u64(&item)?).ok()
        })
    }

    /// The IPv4 address, if present and well-formed.
    pub fn ip4(&self) -> Option<Ipv4Addr> {
        self.try_ip4().ok().flatten()
    }

    /// The IPv6 address, if present and well-formed.
    pub fn ip6(&self) -> Option<Ipv6Addr> {
        self.try_ip6().ok().flatten()
    }

    /// The TCP port, if present and well-formed.
    pub fn tcp(&self) -> Option<u16> {
        self.try_port(keys::TCP).ok().flatten()
    }

    /// The UDP port, if present and well-formed.
    pub fn udp(&self) -> Option<u16> {
        self.try_port(keys::UDP).ok().flatten()
    }

    /// The IPv6-specific TCP port, if present and well-formed.
    pub fn tcp6(&self) -> Option<u16> {
        self.try_port(keys::TCP6).ok().flatten()
    }

    /// The IPv6-specific UDP port, if present and well-formed.
    pub fn udp6(&self) -> Option<u16> {
        self.try_port(keys::UDP6).ok().flatten()
    }
}

/// The payload of a raw value that must be an RLP string.
fn string_value(raw: &[u8]) -> Option<&[u8]> {
    match read_item(raw) {
        Ok((item, rest)) if !item.is_list && rest.is_empty() => Some(item.payload),
        _ => None,
    }
}

/// Verifies a v4 signature over the RLP list `content`.
fn verify_v4(
    key: &PublicKey,
    content: &[u8],
    signature: &[u8; ENR_SIGNATURE_LEN],
) -> Result<(), EnrError> {
    let sig = Signature::from_compact(signature).map_err(|_| EnrError::BadSignature)?;
    let msg = Message::from_digest(keccak256(content));
    // libsecp256k1 (like go-ethereum) only accepts low-S signatures.
    ecdsa::verify(&sig, msg, key).map_err(|_| EnrError::BadSignature)
}

/// Signs `pairs` (sorted, unique, values single RLP items, including `id`
/// and `secp256k1`) without checking the size limit.
pub(crate) fn sign_unchecked(secret: &SecretKey, seq: u64, pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Enr {
    let public_key = crate::secp::public_key(secret);
    let mut body = Vec::with_capacity(MAX_ENR_SIZE);
    seq.encode(&mut body);
    for (k, v) in &pairs {
        k.as_slice().encode(&mut body);
        body.extend_from_slice(v);
    }
    let mut content = Vec::with_capacity(body.len() + 3);
    encode_list_header(&mut content, body.len());
    content.extend_from_slice(&body);
    let digest = keccak256(&content);
    // RFC 6979 deterministic nonce, no extra entropy: the same key and
    // content always give the same record (as go-ethereum).
    let signature = crate::secp::sign(digest, secret).serialize_compact();

    let mut payload = Vec::with_capacity(body.len() + ENR_SIGNATURE_LEN + 2);
    signature.encode(&mut payload);
    payload.extend_from_slice(&body);
    let mut raw = Vec::with_capacity(payload.len() + 3);
    encode_list_header(&mut raw, payload.len());
    raw.extend_from_slice(&payload);
    Enr {
        seq,
        pairs,
        signature,
        public_key,
        raw,
    }
}

/// The encoded size of a record with these pairs (values raw, without `id`
/// and `secp256k1` unless included) and a 64-byte signature.
pub(crate) fn encoded_len<'a>(
    seq: u64,
    pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) -> usize {
    let mut len = [0u8; ENR_SIGNATURE_LEN].length() + seq.length();
    for (k, v) in pairs {
        len += k.length() + v.len();
    }
    Header {
        list: true,
        payload_length: len,
    }
    .length_with_payload()
}

/// Checks that `value` is exactly one canonical RLP item.
pub(crate) fn check_raw_value(key: &[u8], value: &[u8]) -> Result<(), EnrError> {
    match read_item(value) {
        Ok((_, [])) => Ok(()),
        _ => Err(EnrError::BadValue { key: key_text(key) }),
    }
}

/// The RLP encoding of a byte string (for raw values).
pub(crate) fn rlp_bytes(data: &[u8]) -> Vec<u8> {
    alloy_rlp::encode(data)
}

/// The RLP encoding of an unsigned integer (for raw values).
pub(crate) fn rlp_uint(n: u64) -> Vec<u8> {
    alloy_rlp::encode(n)
}

/// Builds and signs a v4 [`Enr`].
#[derive(Clone, Debug)]
#[must_use]
pub struct EnrBuilder {
    seq: u64,
    pairs: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Default for EnrBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl EnrBuilder {
    /// An empty builder with sequence number 1.
    pub fn new() -> Self {
        EnrBuilder {
            seq: 1,
            pairs: BTreeMap::new(),
        }
    }

    /// Sets the sequence number.
    pub fn seq(mut self, seq: u64) -> Self {
        self.seq = seq;
        self
    }

    /// Sets the `ip` entry.
    pub fn ip4(self, ip: Ipv4Addr) -> Self {
        self.add_raw(keys::IP, rlp_bytes(&ip.octets()))
    }

    /// Sets the `ip6` entry.
    pub fn ip6(self, ip: Ipv6Addr) -> Self {
        self.add_raw(keys::IP6, rlp_bytes(&ip.octets()))
    }

    /// Sets `ip` or `ip6` by address family (IPv4-mapped IPv6 counts as IPv4).
    pub fn ip(self, ip: IpAddr) -> Self {
        match super::ip::canonical_ip(ip) {
            IpAddr::V4(v4) => self.ip4(v4),
            IpAddr::V6(v6) => self.ip6(v6),
        }
    }

    /// Sets the `tcp` entry.
    pub fn tcp(self, port: u16) -> Self {
        self.add_raw(keys::TCP, rlp_uint(port.into()))
    }

    /// Sets the `udp` entry.
    pub fn udp(self, port: u16) -> Self {
        self.add_raw(keys::UDP, rlp_uint(port.into()))
    }

    /// Sets the `tcp6` entry.
    pub fn tcp6(self, port: u16) -> Self {
        self.add_raw(keys::TCP6, rlp_uint(port.into()))
    }

    /// Sets the `udp6` entry.
    pub fn udp6(self, port: u16) -> Self {
        self.add_raw(keys::UDP6, rlp_uint(port.into()))
    }

    /// Sets `key` to an already RLP-encoded value (checked when signing:
    /// it must be exactly one canonical RLP item).
    pub fn add_raw(mut self, key: impl Into<Vec<u8>>, rlp_value: Vec<u8>) -> Self {
        self.pairs.insert(key.into(), rlp_value);
        self
    }

    /// Sets `key` to the RLP encoding of `value`.
    pub fn add<T: Encodable + ?Sized>(self, key: impl Into<Vec<u8>>, value: &T) -> Self {
        self.add_raw(key, alloy_rlp::encode(value))
    }

    /// Adds `id = "v4"` and the compressed public key of `key`, signs, and
    /// checks the result against [`MAX_ENR_SIZE`].
    pub fn sign(self, key: &SecretKey) -> Result<Enr, EnrError> {
        for (k, v) in &self.pairs {
            if k.as_slice() == keys::ID || k.as_slice() == keys::SECP256K1 {
                return Err(EnrError::ReservedKey { key: key_text(k) });
            }
            check_raw_value(k, v)?;
        }
        let mut pairs = self.pairs;
        let public = crate::secp::public_key(key);
        pairs.insert(keys::ID.to_vec(), rlp_bytes(V4));
        pairs.insert(keys::SECP256K1.to_vec(), rlp_bytes(&public.serialize()));
        let size = encoded_len(
            self.seq,
            pairs.iter().map(|(k, v)| (k.as_slice(), v.as_slice())),
        );
        if size > MAX_ENR_SIZE {
            return Err(EnrError::TooLarge { size });
        }
        Ok(sign_unchecked(key, self.seq, pairs.into_iter().collect()))
    }
}

impl fmt::Display for Enr {
    /// The text form: `enr:` + unpadded URL-safe base64 of the encoding.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(TEXT_PREFIX)?;
        f.write_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&self.raw))
    }
}

impl FromStr for Enr {
    type Err = EnrError;

    /// Parses and verifies the text form.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_ENR_TEXT_LEN {
            return Err(EnrError::TextTooLong { len: s.len() });
        }
        let b64 = s.strip_prefix(TEXT_PREFIX).ok_or(EnrError::MissingPrefix)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(b64)
            .map_err(|_| EnrError::BadBase64)?;
        Enr::decode(&bytes)
    }
}

impl Encodable for Enr {
    /// The record is an RLP list already: its encoding is copied as is.
    fn encode(&self, out: &mut dyn alloy_rlp::BufMut) {
        out.put_slice(&self.raw);
    }

    fn length(&self) -> usize {
        self.raw.len()
    }
}

impl alloy_rlp::Decodable for Enr {
    /// Decodes and verifies an embedded record (e.g. in a discv4
    /// ENRResponse). Only the first item of `buf` is taken; a record larger
    /// than [`MAX_ENR_SIZE`] is rejected before it is copied.
    fn decode(buf: &mut &[u8]) -> alloy_rlp::Result<Self> {
        let (item, rest) = Item::read(buf)?;
        let enr = Enr::decode(item.raw).map_err(|e| alloy_rlp::Error::Custom(e.as_static_str()))?;
        *buf = rest;
        Ok(enr)
    }
}

#[cfg(test)]
#[path = "enr_tests.rs"]
mod tests;
