//! discv4 wire format: `hash(32) || signature(65) || type(1) || rlp(data)`.
//!
//! The hash is keccak256 of everything after it; the signature is a
//! recoverable secp256k1 signature over keccak256(`type || data`), and the
//! signer's public key is the sender's [`NodeId`]. Decoding follows EIP-8:
//! extra list elements and trailing bytes after the RLP list are ignored.
//! EIP-868 adds the optional `enr-seq` to Ping and Pong and the
//! ENRRequest/ENRResponse pair.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy_rlp::{Encodable, EMPTY_STRING_CODE};
use bytes::Bytes;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message as SecpMessage, SecretKey};

use crate::node::{keccak256, NodeId};
use crate::rlp_item::{encode_list_with, Item};

/// Largest datagram we send or accept, in bytes (discv4 spec, geth `maxPacketSize`).
pub const MAX_PACKET_SIZE: usize = 1280;
/// Length of the packet hash prefix, in bytes (keccak256).
pub const HASH_LEN: usize = 32;
/// Length of the recoverable signature, in bytes (r, s, recovery id).
pub const SIG_LEN: usize = 65;
/// Bytes before the packet type: hash plus signature (geth `headSize`).
pub const HEAD_LEN: usize = HASH_LEN + SIG_LEN;
/// Smallest datagram that can hold a packet: header plus the type byte
/// (geth rejects anything shorter than `headSize + 1` = 98 bytes).
pub const MIN_PACKET_SIZE: usize = HEAD_LEN + 1;
/// How far in the future we set `expiration` on packets we send, in seconds
/// (geth `expiration = 20 * time.Second`).
pub const EXPIRATION_SECS: u64 = 20;
/// The discovery protocol version we put in Ping (discv4 spec: 4).
pub const PING_VERSION: u32 = 4;
/// Most nodes per Neighbors datagram so that it stays within
/// [`MAX_PACKET_SIZE`] even with IPv6 endpoints and maximal ports (geth
/// computes 12 the same way; see the `neighbors_fit` test).
pub const MAX_NEIGHBORS: usize = 12;

/// Packet type bytes (discv4 spec, EIP-868).
pub mod ptype {
    /// Ping.
    pub const PING: u8 = 1;
    /// Pong.
    pub const PONG: u8 = 2;
    /// FindNode.
    pub const FIND_NODE: u8 = 3;
    /// Neighbors.
    pub const NEIGHBORS: u8 = 4;
    /// ENRRequest (EIP-868).
    pub const ENR_REQUEST: u8 = 5;
    /// ENRResponse (EIP-868).
    pub const ENR_RESPONSE: u8 = 6;
}

/// Why a datagram was not accepted as a discv4 packet. All of these cause
/// the datagram to be dropped silently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Shorter than [`MIN_PACKET_SIZE`].
    #[error("packet too small: {0} bytes")]
    TooSmall(usize),
    /// Longer than [`MAX_PACKET_SIZE`].
    #[error("packet too large: {0} bytes")]
    TooLarge(usize),
    /// The hash prefix does not match the rest of the packet.
    #[error("bad packet hash")]
    BadHash,
    /// The signature is malformed or no public key can be recovered from it.
    #[error("bad packet signature")]
    BadSignature,
    /// The type byte is not one of the six discv4 packet types.
    #[error("unknown packet type {0}")]
    UnknownType(u8),
    /// The RLP body could not be decoded; names the packet and the field.
    #[error("bad rlp in {packet} ({field})")]
    BadRlp {
        /// Packet name.
        packet: &'static str,
        /// Field that failed.
        field: &'static str,
    },
    /// An IP address field had a length other than 0, 4 or 16.
    #[error("bad ip address length {0}")]
    BadIp(usize),
}

/// A UDP/TCP endpoint as carried in Ping and Pong (`[ip, udp, tcp]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// IP address; `None` when the sender sent an empty string.
    pub ip: Option<IpAddr>,
    /// UDP port.
    pub udp: u16,
    /// TCP port (0 when the node does not listen on TCP).
    pub tcp: u16,
}

impl Endpoint {
    /// An endpoint for a UDP socket address and a TCP port.
    pub fn new(addr: SocketAddr, tcp: u16) -> Self {
        Endpoint {
            ip: Some(addr.ip()),
            udp: addr.port(),
            tcp,
        }
    }

    /// The UDP socket address, when an IP is present.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.ip.map(|ip| SocketAddr::new(ip, self.udp))
    }
}

/// One entry of a Neighbors packet: `[ip, udp, tcp, id]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeRecord {
    /// IP address.
    pub ip: IpAddr,
    /// UDP port.
    pub udp: u16,
    /// TCP port.
    pub tcp: u16,
    /// Node ID (public key).
    pub id: NodeId,
}

/// Ping (type 1): `[version, from, to, expiration, enr-seq?, ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    /// Protocol version (4; anything is accepted).
    pub version: u32,
    /// The sender's claimed endpoint (not trusted: replies go to the UDP source).
    pub from: Endpoint,
    /// The recipient's endpoint as the sender sees it.
    pub to: Endpoint,
    /// Unix time in seconds after which the packet is void.
    pub expiration: u64,
    /// The sender's ENR sequence number (EIP-868).
    pub enr_seq: Option<u64>,
}

/// Pong (type 2): `[to, ping-hash, expiration, enr-seq?, ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pong {
    /// The UDP source of the Ping as the replier saw it.
    pub to: Endpoint,
    /// Hash of the Ping this answers.
    pub reply_token: [u8; 32],
    /// Unix time in seconds after which the packet is void.
    pub expiration: u64,
    /// The sender's ENR sequence number (EIP-868).
    pub enr_seq: Option<u64>,
}

/// FindNode (type 3): `[target, expiration, ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindNode {
    /// The public key whose neighbourhood is asked for.
    pub target: NodeId,
    /// Unix time in seconds after which the packet is void.
    pub expiration: u64,
}

/// Neighbors (type 4): `[[node, ...], expiration, ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbors {
    /// The nodes (at most [`MAX_NEIGHBORS`] when we send; any number that
    /// fits a datagram when we receive).
    pub nodes: Vec<NodeRecord>,
    /// Unix time in seconds after which the packet is void.
    pub expiration: u64,
}

/// ENRRequest (type 5): `[expiration, ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrRequest {
    /// Unix time in seconds after which the packet is void.
    pub expiration: u64,
}

/// ENRResponse (type 6): `[request-hash, record, ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrResponse {
    /// Hash of the ENRRequest this answers.
    pub reply_token: [u8; 32],
    /// The record, as its raw RLP encoding (decoded by the caller).
    pub record: Bytes,
}

/// A decoded discv4 packet body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Ping.
    Ping(Ping),
    /// Pong.
    Pong(Pong),
    /// FindNode.
    FindNode(FindNode),
    /// Neighbors.
    Neighbors(Neighbors),
    /// ENRRequest.
    EnrRequest(EnrRequest),
    /// ENRResponse.
    EnrResponse(EnrResponse),
}

/// A datagram that passed hash and signature checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The decoded body.
    pub message: Message,
    /// The signer.
    pub sender: NodeId,
    /// The packet hash (reply token for Ping and ENRRequest).
    pub hash: [u8; 32],
}

impl Message {
    /// The packet type byte.
    pub fn packet_type(&self) -> u8 {
        match self {
            Message::Ping(_) => ptype::PING,
            Message::Pong(_) => ptype::PONG,
            Message::FindNode(_) => ptype::FIND_NODE,
            Message::Neighbors(_) => ptype::NEIGHBORS,
            Message::EnrRequest(_) => ptype::ENR_REQUEST,
            Message::EnrResponse(_) => ptype::ENR_RESPONSE,
        }
    }

    /// The packet's expiration time, for the types that carry one.
    pub fn expiration(&self) -> Option<u64> {
        match self {
            Message::Ping(p) => Some(p.expiration),
            Message::Pong(p) => Some(p.expiration),
            Message::FindNode(p) => Some(p.expiration),
            Message::Neighbors(p) => Some(p.expiration),
            Message::EnrRequest(p) => Some(p.expiration),
            Message::EnrResponse(_) => None,
        }
    }

    /// Short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Message::Ping(_) => "PING",
            Message::Pong(_) => "PONG",
            Message::FindNode(_) => "FINDNODE",
            Message::Neighbors(_) => "NEIGHBORS",
            Message::EnrRequest(_) => "ENRREQUEST",
            Message::EnrResponse(_) => "ENRRESPONSE",
        }
    }

    /// Appends the RLP body.
    fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Message::Ping(p) => encode_list_with(out, |s| {
                p.version.encode(s);
                encode_endpoint(s, &p.from);
                encode_endpoint(s, &p.to);
                p.expiration.encode(s);
                if let Some(seq) = p.enr_seq {
                    seq.encode(s);
                }
            }),
            Message::Pong(p) => encode_list_with(out, |s| {
                encode_endpoint(s, &p.to);
                p.reply_token.encode(s);
                p.expiration.encode(s);
                if let Some(seq) = p.enr_seq {
                    seq.encode(s);
                }
            }),
            Message::FindNode(p) => encode_list_with(out, |s| {
                p.target.0.encode(s);
                p.expiration.encode(s);
            }),
            Message::Neighbors(p) => encode_list_with(out, |s| {
                encode_list_with(s, |s| {
                    for n in &p.nodes {
                        encode_list_with(s, |s| {
                            encode_ip(s, Some(n.ip));
                            n.udp.encode(s);
                            n.tcp.encode(s);
                            n.id.0.encode(s);
                        });
                    }
                });
                p.expiration.encode(s);
            }),
            Message::EnrRequest(p) => encode_list_with(out, |s| p.expiration.encode(s)),
            Message::EnrResponse(p) => encode_list_with(out, |s| {
                p.reply_token.encode(s);
                // The record is one RLP list already.
                s.extend_from_slice(&p.record);
            }),
        }
    }
}

fn encode_ip(s: &mut Vec<u8>, ip: Option<IpAddr>) {
    match ip {
        None => s.push(EMPTY_STRING_CODE),
        Some(IpAddr::V4(v4)) => v4.octets().encode(s),
        Some(IpAddr::V6(v6)) => v6.octets().encode(s),
    };
}

fn encode_endpoint(s: &mut Vec<u8>, e: &Endpoint) {
    encode_list_with(s, |s| {
        encode_ip(s, e.ip);
        e.udp.encode(s);
        e.tcp.encode(s);
    });
}

/// Encodes and signs `msg`; returns the datagram and its hash.
pub fn encode_packet(key: &SecretKey, msg: &Message) -> (Vec<u8>, [u8; 32]) {
    let mut out = Vec::with_capacity(MAX_PACKET_SIZE);
    out.resize(HEAD_LEN + 1, 0);
    out[HEAD_LEN] = msg.packet_type();
    msg.encode_body(&mut out);
    let digest = keccak256(&out[HEAD_LEN..]);
    let sig = devp2p_identity::secp::sign_recoverable(digest, key);
    let (recid, compact) = sig.serialize_compact();
    out[HASH_LEN..HASH_LEN + 64].copy_from_slice(&compact);
    out[HASH_LEN + 64] = recid.to_u8();
    let hash = keccak256(&out[HASH_LEN..]);
    out[..HASH_LEN].copy_from_slice(&hash);
    (out, hash)
}

/// Checks size, hash and signature of a datagram and decodes its body.
///
/// Cost: two keccak256 and one public-key recovery, plus the RLP walk.
pub fn decode_packet(datagram: &[u8]) -> Result<Packet, WireError> {
    if datagram.len() < MIN_PACKET_SIZE {
        return Err(WireError::TooSmall(datagram.len()));
    }
    if datagram.len() > MAX_PACKET_SIZE {
        return Err(WireError::TooLarge(datagram.len()));
    }
    let hash = keccak256(&datagram[HASH_LEN..]);
    if hash[..] != datagram[..HASH_LEN] {
        return Err(WireError::BadHash);
    }
    let sig = &datagram[HASH_LEN..HEAD_LEN];
    let recid = RecoveryId::try_from(i32::from(sig[64])).map_err(|_| WireError::BadSignature)?;
    let rsig = RecoverableSignature::from_compact(&sig[..64], recid)
        .map_err(|_| WireError::BadSignature)?;
    let digest = keccak256(&datagram[HEAD_LEN..]);
    let key = rsig
        .recover_ecdsa(SecpMessage::from_digest(digest))
        .map_err(|_| WireError::BadSignature)?;
    let sender = NodeId::from_public_key(&key);
    let message = decode_body(datagram[HEAD_LEN], &datagram[HEAD_LEN + 1..])?;
    Ok(Packet {
        message,
        sender,
        hash,
    })
}

/// Decodes a packet body of the given type (no hash or signature checks).
pub fn decode_body(ptype: u8, data: &[u8]) -> Result<Message, WireError> {
    let name = match ptype {
        ptype::PING => "ping",
        ptype::PONG => "pong",
        ptype::FIND_NODE => "findnode",
        ptype::NEIGHBORS => "neighbors",
        ptype::ENR_REQUEST => "enrrequest",
        ptype::ENR_RESPONSE => "enrresponse",
        other => return Err(WireError::UnknownType(other)),
    };
    let bad = |field: &'static str| WireError::BadRlp {
        packet: name,
        field,
    };
    // EIP-8: ignore whatever follows the outer list, and list elements
    // after the known ones (elements are read one at a time).
    let mut list = Item::first(data)
        .and_then(|outer| outer.list())
        .map_err(|_| bad("list"))?;
    let msg = match ptype {
        ptype::PING => Message::Ping(Ping {
            version: list.next_decode().map_err(|_| bad("version"))?,
            from: decode_endpoint(list.next_item()).map_err(|_| bad("from"))?,
            to: decode_endpoint(list.next_item()).map_err(|_| bad("to"))?,
            expiration: list.next_decode().map_err(|_| bad("expiration"))?,
            enr_seq: optional_u64(list.next_item()),
        }),
        ptype::PONG => Message::Pong(Pong {
            to: decode_endpoint(list.next_item()).map_err(|_| bad("to"))?,
            reply_token: fixed32(list.next_item()).ok_or_else(|| bad("reply token"))?,
            expiration: list.next_decode().map_err(|_| bad("expiration"))?,
            enr_seq: optional_u64(list.next_item()),
        }),
        ptype::FIND_NODE => {
            let target = list.next_bytes().map_err(|_| bad("target"))?;
            Message::FindNode(FindNode {
                target: NodeId::from_slice(target).map_err(|_| bad("target"))?,
                expiration: list.next_decode().map_err(|_| bad("expiration"))?,
            })
        }
        ptype::NEIGHBORS => {
            let nodes_rlp = list
                .next_item()
                .and_then(|item| item.list())
                .map_err(|_| bad("nodes"))?;
            // Bounded: the datagram is at most MAX_PACKET_SIZE bytes and each
            // entry takes at least 70 of them.
            let mut nodes = Vec::new();
            for item in nodes_rlp {
                let item = item.map_err(|_| bad("node"))?;
                nodes.push(decode_node_record(&item).ok_or_else(|| bad("node"))?);
            }
            Message::Neighbors(Neighbors {
                nodes,
                expiration: list.next_decode().map_err(|_| bad("expiration"))?,
            })
        }
        ptype::ENR_REQUEST => Message::EnrRequest(EnrRequest {
            expiration: list.next_decode().map_err(|_| bad("expiration"))?,
        }),
        _ => {
            let token = list.next_item();
            let record = token
                .and_then(|_| list.next_item())
                .map_err(|_| bad("record"))?;
            if !record.is_list {
                return Err(bad("record"));
            }
            Message::EnrResponse(EnrResponse {
                reply_token: fixed32(token).ok_or_else(|| bad("reply token"))?,
                record: Bytes::copy_from_slice(record.raw),
            })
        }
    };
    Ok(msg)
}

/// A 32-byte string element.
fn fixed32(item: Result<Item<'_>, alloy_rlp::Error>) -> Option<[u8; 32]> {
    item.ok()?.bytes().ok()?.try_into().ok()
}

/// EIP-868's optional enr-seq: present only when the element is an integer.
fn optional_u64(item: Result<Item<'_>, alloy_rlp::Error>) -> Option<u64> {
    item.ok()?.decode().ok()
}

/// A port, accepting leading zero bytes: ethereumjs always writes ports as
/// two bytes, so ports below 256 (and 0) arrive non-canonical. Being liberal
/// here is what EIP-8 asks; a value that does not fit 16 bits is an error.
fn lenient_port(item: &Item<'_>) -> Result<u16, alloy_rlp::Error> {
    let data = item.bytes()?;
    let significant = &data[data.iter().take_while(|b| **b == 0).count()..];
    match significant.len() {
        0 => Ok(0),
        1 => Ok(u16::from(significant[0])),
        2 => Ok(u16::from_be_bytes([significant[0], significant[1]])),
        _ => Err(alloy_rlp::Error::Overflow),
    }
}

fn decode_ip(item: &Item<'_>) -> Result<Option<IpAddr>, WireError> {
    let data = item.bytes().map_err(|_| WireError::BadIp(0))?;
    match data.len() {
        0 => Ok(None),
        4 => {
            let b: [u8; 4] = data.try_into().map_err(|_| WireError::BadIp(4))?;
            Ok(Some(IpAddr::V4(Ipv4Addr::from(b))))
        }
        16 => {
            let b: [u8; 16] = data.try_into().map_err(|_| WireError::BadIp(16))?;
            let v6 = Ipv6Addr::from(b);
            // Normalise IPv4-mapped addresses so comparisons with UDP sources work.
            Ok(Some(match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            }))
        }
        n => Err(WireError::BadIp(n)),
    }
}

/// `[ip, udp, tcp, ...]`.
fn decode_endpoint(item: Result<Item<'_>, alloy_rlp::Error>) -> Result<Endpoint, alloy_rlp::Error> {
    let mut e = item?.list()?;
    let ip = decode_ip(&e.next_item()?).map_err(|_| alloy_rlp::Error::Custom("ip"))?;
    Ok(Endpoint {
        ip,
        udp: lenient_port(&e.next_item()?)?,
        tcp: lenient_port(&e.next_item()?)?,
    })
}

/// `[ip, udp, tcp, id, ...]`.
fn decode_node_record(item: &Item<'_>) -> Option<NodeRecord> {
    let mut fields = item.list().ok()?;
    let ip = decode_ip(&fields.next_item().ok()?).ok()??;
    let udp = lenient_port(&fields.next_item().ok()?).ok()?;
    let tcp = lenient_port(&fields.next_item().ok()?).ok()?;
    let id = fields.next_bytes().ok()?;
    Some(NodeRecord {
        ip,
        udp,
        tcp,
        id: NodeId::from_slice(id).ok()?,
    })
}

/// Current Unix time in seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// Expiration value for a packet sent now.
pub fn expiration_from_now() -> u64 {
    unix_now() + EXPIRATION_SECS
}

/// Smallest `expiration` read as a negative time, so as already past: 2^63.
/// The spec only says "a UNIX time stamp"; go-ethereum converts the field
/// to a signed 64-bit integer (`time.Unix(int64(ts), 0)` in
/// `v4wire.Expired`), so `2^64 - t` means `-t` there, and its conformance
/// suite (`devp2p discv4 test`: Ping/PastExpiration, Findnode/PastExpiration)
/// sends exactly such values and expects them dropped. No real clock gets
/// near 2^63 s (~292 billion years), so we read the field the same way.
pub const NEGATIVE_EXPIRATION: u64 = 1 << 63;

/// True when `expiration` (Unix seconds) is in the past (geth `v4wire.Expired`):
/// before `now_unix`, or at or above [`NEGATIVE_EXPIRATION`] (a negative
/// time as go-ethereum reads it).
pub fn is_expired(expiration: u64, now_unix: u64) -> bool {
    expiration >= NEGATIVE_EXPIRATION || expiration < now_unix
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
