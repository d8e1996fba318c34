//! [`RlpxError`]: everything that can go wrong in the RLPx layer, with the
//! policy questions the layers above ask about it.

use std::io;

/// Why an ECIES message (the encrypted envelope of auth and ack) was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EciesError {
    /// Shorter than the fixed ECIES overhead (public key, IV and MAC).
    #[error("ECIES message of {size} bytes is shorter than the {min}-byte overhead")]
    TooShort {
        /// Bytes received.
        size: usize,
        /// Smallest possible ECIES message.
        min: usize,
    },
    /// The embedded ephemeral public key is not an uncompressed curve point.
    #[error("ECIES ephemeral public key is invalid")]
    InvalidPublicKey,
    /// The HMAC-SHA256 tag does not match: wrong recipient key or tampered data.
    #[error("ECIES MAC mismatch")]
    BadMac,
}

/// Why a decrypted auth or ack body could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The RLP body is malformed (not canonical, truncated, a list where a
    /// string belongs or the reverse) or misses a mandatory element.
    #[error("malformed RLP: {0}")]
    Rlp(#[from] alloy_rlp::Error),
    /// A fixed-size element (signature, key, nonce) has the wrong length.
    #[error("{field} has {got} bytes, want {want}")]
    BadLength {
        /// Which element.
        field: &'static str,
        /// Bytes found.
        got: usize,
        /// Bytes required.
        want: usize,
    },
    /// A public key in the message is not on the curve.
    #[error("invalid public key in {field}")]
    InvalidPublicKey {
        /// Which element.
        field: &'static str,
    },
    /// The signature is malformed or no public key can be recovered from it.
    #[error("invalid or unrecoverable signature")]
    InvalidSignature,
}

/// Errors of the RLPx transport: handshake, ECIES and framing.
#[derive(Debug, thiserror::Error)]
pub enum RlpxError {
    /// Reading from or writing to the underlying connection failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The handshake did not complete within [`super::HANDSHAKE_TIMEOUT`].
    #[error("RLPx handshake timed out")]
    HandshakeTimeout,
    /// The peer announced a handshake packet larger than [`super::MAX_HANDSHAKE_PACKET_SIZE`];
    /// rejected before reading it.
    #[error("handshake packet of {size} bytes exceeds the {max}-byte limit")]
    HandshakePacketTooLarge {
        /// Announced size in bytes (EIP-8 size prefix).
        size: usize,
        /// Limit in bytes.
        max: usize,
    },
    /// A complete handshake packet's length disagrees with its EIP-8 size prefix.
    #[error("handshake packet is {got} bytes but its size prefix says {declared}")]
    HandshakeLengthMismatch {
        /// Total length the prefix announces (prefix included).
        declared: usize,
        /// Bytes supplied.
        got: usize,
    },
    /// The connection closed in the middle of the handshake.
    #[error("connection closed during the handshake")]
    HandshakeEof,
    /// The ECIES envelope of an auth or ack failed to decrypt.
    #[error("ECIES: {0}")]
    Ecies(#[from] EciesError),
    /// The decrypted auth message is malformed.
    #[error("bad auth message: {0}")]
    BadAuth(MessageError),
    /// The decrypted ack message is malformed.
    #[error("bad ack message: {0}")]
    BadAck(MessageError),
    /// The node id we were asked to dial is not a valid secp256k1 public key.
    #[error("remote node id is not a valid public key")]
    InvalidRemoteId,
    /// A frame header's MAC does not match: the stream is corrupt or forged.
    #[error("frame header MAC mismatch")]
    BadHeaderMac,
    /// A frame body's MAC does not match: the stream is corrupt or forged.
    #[error("frame MAC mismatch")]
    BadFrameMac,
    /// A received frame declares a size above the codec's limit; rejected
    /// before its body is read.
    #[error("frame of {size} bytes exceeds the {max}-byte limit")]
    FrameTooLarge {
        /// Declared size in bytes.
        size: usize,
        /// Limit in bytes.
        max: usize,
    },
    /// A message handed to the sink is larger than a frame can carry. Nothing
    /// was written: the connection is still usable.
    #[error("message of {size} bytes exceeds the {max}-byte limit")]
    MessageTooLarge {
        /// Message size in bytes.
        size: usize,
        /// Limit in bytes.
        max: usize,
    },
    /// The codec was used again after a MAC or size check failed; its cipher
    /// and MAC states are out of step with the peer.
    #[error("frame codec already failed")]
    CodecFailed,
    /// The connection closed in the middle of a frame.
    #[error("connection closed in the middle of a frame")]
    TruncatedFrame,
}

impl RlpxError {
    /// True when the connection cannot be used any more after this error
    /// (its cipher or MAC state is out of step, or the handshake failed).
    /// Only [`RlpxError::MessageTooLarge`] leaves the connection intact.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, RlpxError::MessageTooLarge { .. })
    }

    /// True when the remote peer sent data that violates the protocol
    /// (bad MACs, malformed or undecryptable handshake, oversized frames): a
    /// reason to penalise or ban it, as opposed to network trouble or our own
    /// mistakes.
    pub fn is_protocol_violation(&self) -> bool {
        matches!(
            self,
            RlpxError::HandshakePacketTooLarge { .. }
                | RlpxError::HandshakeLengthMismatch { .. }
                | RlpxError::Ecies(_)
                | RlpxError::BadAuth(_)
                | RlpxError::BadAck(_)
                | RlpxError::BadHeaderMac
                | RlpxError::BadFrameMac
                | RlpxError::FrameTooLarge { .. }
        )
    }

    /// True when the error came from the network rather than from the peer's
    /// data: I/O failure, timeout, or the connection closing early.
    pub fn is_network_error(&self) -> bool {
        matches!(
            self,
            RlpxError::Io(_)
                | RlpxError::HandshakeTimeout
                | RlpxError::HandshakeEof
                | RlpxError::TruncatedFrame
        )
    }
}

impl From<RlpxError> for io::Error {
    fn from(e: RlpxError) -> Self {
        match e {
            RlpxError::Io(e) => e,
            RlpxError::HandshakeTimeout => io::Error::new(io::ErrorKind::TimedOut, e),
            RlpxError::HandshakeEof | RlpxError::TruncatedFrame => {
                io::Error::new(io::ErrorKind::UnexpectedEof, e)
            }
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}
