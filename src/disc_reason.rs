//! [`DiscReason`]: why a devp2p connection is being closed, as carried by the
//! base protocol's Disconnect message (code 0x01).
//!
//! Codes and texts follow go-ethereum's `p2p/peer_error.go` (0x00–0x0b and 0x10).
//! On the wire the reason is an RLP list `[reason]`. Decoding is liberal, as
//! go-ethereum's `decodeDisconnectMessage` is: a one-element list (extra elements
//! ignored) or a bare RLP byte are both accepted, because some implementations
//! (ethereumjs, old geth) send the bare form.

use std::fmt;

use bytes::Bytes;
use devp2p_discover::rlp_item::Item;
use serde::{Deserialize, Serialize};

/// Largest Disconnect payload we look at, in bytes: the canonical encoding is
/// 2 bytes; go-ethereum reads it through an RLP stream limited to 100 bytes.
pub(crate) const MAX_DISCONNECT_PAYLOAD: usize = 100;

/// The reason a devp2p peer connection is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "u8", from = "u8")]
pub enum DiscReason {
    /// 0x00 "disconnect requested".
    Requested,
    /// 0x01 "network error" (TCP failure, timeout, bad frame).
    NetworkError,
    /// 0x02 "breach of protocol" (bad base-protocol message, code out of range).
    ProtocolError,
    /// 0x03 "useless peer" (no shared capability).
    UselessPeer,
    /// 0x04 "too many peers".
    TooManyPeers,
    /// 0x05 "already connected".
    AlreadyConnected,
    /// 0x06 "incompatible p2p protocol version".
    IncompatibleVersion,
    /// 0x07 "invalid node identity" (Hello node id malformed or zero).
    InvalidIdentity,
    /// 0x08 "client quitting" (also used when a protocol's `run` returns Ok).
    Quitting,
    /// 0x09 "unexpected identity" (Hello id differs from the RLPx-authenticated key).
    UnexpectedIdentity,
    /// 0x0a "connected to self".
    ConnectedToSelf,
    /// 0x0b "read timeout".
    ReadTimeout,
    /// 0x10 "subprotocol error" (a protocol's `run` failed or panicked).
    SubprotocolError,
    /// Any other code, preserved as received (go-ethereum keeps the raw byte too
    /// and prints "unknown disconnect reason N").
    Other(u8),
}

/// Why a Disconnect payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscReasonError {
    /// The payload was empty (or an empty list).
    #[error("disconnect payload carries no reason")]
    Empty,
    /// The payload exceeded [`MAX_DISCONNECT_PAYLOAD`].
    #[error("disconnect payload is {0} bytes, at most {MAX_DISCONNECT_PAYLOAD} allowed")]
    TooLarge(usize),
    /// The payload was not RLP, or the reason was not a single byte.
    #[error("malformed disconnect payload: {0}")]
    Malformed(String),
}

impl DiscReason {
    /// Every reason go-ethereum names, in code order.
    pub const ALL: [DiscReason; 13] = [
        DiscReason::Requested,
        DiscReason::NetworkError,
        DiscReason::ProtocolError,
        DiscReason::UselessPeer,
        DiscReason::TooManyPeers,
        DiscReason::AlreadyConnected,
        DiscReason::IncompatibleVersion,
        DiscReason::InvalidIdentity,
        DiscReason::Quitting,
        DiscReason::UnexpectedIdentity,
        DiscReason::ConnectedToSelf,
        DiscReason::ReadTimeout,
        DiscReason::SubprotocolError,
    ];

    /// The reason for a wire code; unknown codes become [`DiscReason::Other`].
    pub fn from_code(code: u8) -> Self {
        match code {
            0x10 => DiscReason::SubprotocolError,
            c if (c as usize) < 0x0c => Self::ALL[c as usize],
            c => DiscReason::Other(c),
        }
    }

    /// The wire code.
    pub fn code(self) -> u8 {
        match self {
            DiscReason::Requested => 0x00,
            DiscReason::NetworkError => 0x01,
            DiscReason::ProtocolError => 0x02,
            DiscReason::UselessPeer => 0x03,
            DiscReason::TooManyPeers => 0x04,
            DiscReason::AlreadyConnected => 0x05,
            DiscReason::IncompatibleVersion => 0x06,
            DiscReason::InvalidIdentity => 0x07,
            DiscReason::Quitting => 0x08,
            DiscReason::UnexpectedIdentity => 0x09,
            DiscReason::ConnectedToSelf => 0x0a,
            DiscReason::ReadTimeout => 0x0b,
            DiscReason::SubprotocolError => 0x10,
            DiscReason::Other(c) => c,
        }
    }

    /// The canonical Disconnect payload: the RLP list `[reason]`.
    pub fn encode(self) -> Bytes {
        let mut out = Vec::with_capacity(2);
        alloy_rlp::encode_list::<u8, u8>(&[self.code()], &mut out);
        Bytes::from(out)
    }

    /// Decodes a (decompressed) Disconnect payload: `[reason, ...]` or a bare
    /// RLP byte.
    pub fn decode(payload: &[u8]) -> Result<Self, DiscReasonError> {
        if payload.is_empty() {
            return Err(DiscReasonError::Empty);
        }
        if payload.len() > MAX_DISCONNECT_PAYLOAD {
            return Err(DiscReasonError::TooLarge(payload.len()));
        }
        let bad = |e: alloy_rlp::Error| DiscReasonError::Malformed(e.to_string());
        // Only the first item counts; like go-ethereum's stream decoder we
        // ignore bytes after it.
        let item = Item::first(payload).map_err(bad)?;
        let code: u8 = if item.is_list {
            let mut fields = item.list().map_err(bad)?;
            if fields.is_empty() {
                return Err(DiscReasonError::Empty);
            }
            fields.next_decode().map_err(bad)?
        } else {
            item.decode().map_err(bad)?
        };
        Ok(Self::from_code(code))
    }
}

impl From<u8> for DiscReason {
    fn from(code: u8) -> Self {
        Self::from_code(code)
    }
}

impl From<DiscReason> for u8 {
    fn from(r: DiscReason) -> Self {
        r.code()
    }
}

impl fmt::Display for DiscReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            DiscReason::Requested => "disconnect requested",
            DiscReason::NetworkError => "network error",
            DiscReason::ProtocolError => "breach of protocol",
            DiscReason::UselessPeer => "useless peer",
            DiscReason::TooManyPeers => "too many peers",
            DiscReason::AlreadyConnected => "already connected",
            DiscReason::IncompatibleVersion => "incompatible p2p protocol version",
            DiscReason::InvalidIdentity => "invalid node identity",
            DiscReason::Quitting => "client quitting",
            DiscReason::UnexpectedIdentity => "unexpected identity",
            DiscReason::ConnectedToSelf => "connected to self",
            DiscReason::ReadTimeout => "read timeout",
            DiscReason::SubprotocolError => "subprotocol error",
            DiscReason::Other(c) => return write!(f, "unknown disconnect reason {c}"),
        };
        f.write_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_texts_match_geth() {
        for r in DiscReason::ALL {
            assert_eq!(DiscReason::from_code(r.code()), r);
            assert_eq!(DiscReason::decode(&r.encode()).unwrap(), r);
        }
        assert_eq!(DiscReason::SubprotocolError.code(), 0x10);
        assert_eq!(DiscReason::from_code(0x0c), DiscReason::Other(0x0c));
        assert_eq!(DiscReason::TooManyPeers.to_string(), "too many peers");
        assert_eq!(
            DiscReason::Other(0x42).to_string(),
            "unknown disconnect reason 66"
        );
    }

    #[test]
    fn wire_forms() {
        // Canonical list, reason 0 encodes as the empty string 0x80.
        assert_eq!(&DiscReason::Requested.encode()[..], &[0xc1, 0x80]);
        assert_eq!(&DiscReason::TooManyPeers.encode()[..], &[0xc1, 0x04]);
        // Bare byte (ethereumjs) and bare zero.
        assert_eq!(
            DiscReason::decode(&[0x04]).unwrap(),
            DiscReason::TooManyPeers
        );
        assert_eq!(DiscReason::decode(&[0x80]).unwrap(), DiscReason::Requested);
        // Extra list elements are ignored, like geth.
        assert_eq!(
            DiscReason::decode(&[0xc2, 0x08, 0x01]).unwrap(),
            DiscReason::Quitting
        );
        // Unknown code preserved.
        assert_eq!(
            DiscReason::decode(&[0xc2, 0x81, 0xff]).unwrap(),
            DiscReason::Other(0xff)
        );
        // Empty forms and junk are errors, never panics.
        assert_eq!(DiscReason::decode(&[]), Err(DiscReasonError::Empty));
        assert_eq!(DiscReason::decode(&[0xc0]), Err(DiscReasonError::Empty));
        assert!(DiscReason::decode(&[0xc1]).is_err());
        assert!(DiscReason::decode(&[0x82, 0x01, 0x02]).is_err());
        assert!(matches!(
            DiscReason::decode(&[0u8; 101]),
            Err(DiscReasonError::TooLarge(101))
        ));
    }

    #[test]
    fn serde_as_number() {
        let s = serde_json::to_string(&DiscReason::Quitting).unwrap();
        assert_eq!(s, "8");
        let back: DiscReason = serde_json::from_str(&s).unwrap();
        assert_eq!(back, DiscReason::Quitting);
    }
}
