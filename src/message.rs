//! Messages and the traits protocols use to exchange them.
//!
//! A [`Msg`] is one sub-protocol message with its code relative to the
//! protocol (0-based; the peer layer adds and removes the negotiated offset).
//! [`MsgReader`] / [`MsgWriter`] are implemented by the per-peer protocol
//! window ([`ProtoRw`](crate::peer::ProtoRw)) and by the in-memory
//! [`MsgPipe`] used in tests, so protocol logic written against the traits can
//! be unit-tested without sockets.
//!
//! Payloads are RLP: [`send`], [`expect_msg`] and [`Msg::decode`] take any
//! type implementing [`alloy_rlp::Encodable`] / [`alloy_rlp::Decodable`]
//! (re-exported as [`crate::alloy_rlp`]), so types from reth, alloy and
//! other crates of that ecosystem can be sent as they are, and a struct
//! can derive both:
//!
//! ```
//! use devp2p::alloy_rlp::{RlpDecodable, RlpEncodable};
//! use devp2p::{send, MsgPipe, MsgReader};
//!
//! #[derive(Debug, PartialEq, RlpEncodable, RlpDecodable)]
//! struct Status {
//!     version: u64,
//!     name: String,
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let (ours, mut theirs) = MsgPipe::pair();
//! let status = Status { version: 1, name: "demo".into() };
//! let writer = tokio::spawn(async move { send(&ours, 0, &status).await });
//! let msg = theirs.read_msg().await.unwrap();
//! assert_eq!(msg.decode::<Status>().unwrap(), Status { version: 1, name: "demo".into() });
//! writer.await.unwrap().unwrap();
//! # });
//! ```

mod declare;
mod pipe;

use std::future::Future;
use std::time::Instant;

use alloy_rlp::{Decodable, Encodable};
use bytes::Bytes;

pub use declare::{read_message, send_message, ProtocolMessage};
pub use pipe::MsgPipe;

/// Largest message payload accepted or sent, in bytes (after decompression):
/// RLPx frames carry a 24-bit size, and go-ethereum rejects snappy payloads
/// whose decoded length exceeds 2^24 − 1 (`maxUint24` in p2p/rlpx).
pub const MAX_MSG_SIZE: usize = 16 * 1024 * 1024;

/// One message of a sub-protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    /// Message code, relative to the protocol (0-based).
    pub code: u64,
    /// Payload length in bytes (decompressed).
    pub size: u32,
    /// RLP payload (decompressed). Payloads of 16–256 KiB received with
    /// snappy live in buffers the receiving worker thread reuses once every
    /// handle to them is dropped (so large messages do not cost an
    /// allocation each); the pool keeps a handle too, so converting one with
    /// `Bytes::try_into_mut` fails and `Vec::from` copies.
    pub payload: Bytes,
    /// When the message was read from the connection.
    pub received_at: Instant,
}

impl Msg {
    /// A message received now.
    pub fn new(code: u64, payload: Bytes) -> Self {
        Msg {
            code,
            size: u32::try_from(payload.len()).unwrap_or(u32::MAX),
            payload,
            received_at: Instant::now(),
        }
    }

    /// Decodes the payload as one RLP item of type `T`. The item must be
    /// canonical and fill the payload: bytes after it are an error
    /// (`alloy_rlp::decode_exact`).
    pub fn decode<T: Decodable>(&self) -> Result<T, MsgError> {
        alloy_rlp::decode_exact(&self.payload).map_err(|e| MsgError::Decode {
            code: self.code,
            error: e,
        })
    }
}

/// Errors of message reading and writing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MsgError {
    /// The peer is disconnecting or gone; nothing more can be read or written.
    #[error("peer connection closed")]
    Closed,
    /// Read or write on a closed [`MsgPipe`] (go-ethereum's `ErrPipeClosed`).
    #[error("p2p: read or write on closed message pipe")]
    PipeClosed,
    /// `try_write_msg`: the protocol's bounded write queue is full.
    #[error("write queue full")]
    QueueFull,
    /// The code is not below the protocol's `length`.
    #[error("message code {code} out of range (protocol length {length})")]
    CodeOutOfRange {
        /// The offending code.
        code: u64,
        /// The protocol's number of codes.
        length: u64,
    },
    /// The payload is larger than [`MAX_MSG_SIZE`].
    #[error("message of {size} bytes exceeds the {MAX_MSG_SIZE}-byte limit")]
    TooLarge {
        /// Payload size in bytes.
        size: usize,
    },
    /// The payload is not the expected RLP.
    #[error("invalid message (code {code}): {error}")]
    Decode {
        /// Message code.
        code: u64,
        /// RLP error.
        error: alloy_rlp::Error,
    },
    /// `expect_msg`: a different code arrived.
    #[error("message code mismatch: got {got}, want {want}")]
    UnexpectedCode {
        /// Code received.
        got: u64,
        /// Code expected.
        want: u64,
    },
    /// `expect_msg`: the payload differs from the expected encoding.
    #[error("message payload mismatch (code {code})")]
    UnexpectedContent {
        /// Code of the message.
        code: u64,
    },
}

impl MsgError {
    /// Whether the error means the connection (or pipe) is gone for good.
    pub fn is_closed(&self) -> bool {
        matches!(self, MsgError::Closed | MsgError::PipeClosed)
    }
}

/// Something messages can be read from.
pub trait MsgReader: Send {
    /// Waits for the next message.
    fn read_msg(&mut self) -> impl Future<Output = Result<Msg, MsgError>> + Send;
}

/// Something messages can be written to. Writers take `&self` so one writer
/// can be shared (or cloned) between tasks.
pub trait MsgWriter: Send + Sync {
    /// Writes a message with a protocol-relative code. How long it waits
    /// depends on the implementation: a peer's window returns once the
    /// message is queued (waiting while its bounded queue is full), a
    /// [`MsgPipe`] once the other end has read it.
    fn write_msg(
        &self,
        code: u64,
        payload: Bytes,
    ) -> impl Future<Output = Result<(), MsgError>> + Send;
}

/// Both [`MsgReader`] and [`MsgWriter`]; implemented for every type that is both.
pub trait MsgReadWriter: MsgReader + MsgWriter {}

impl<T: MsgReader + MsgWriter> MsgReadWriter for T {}

/// The RLP encoding of `value`, as a message payload.
pub(crate) fn encode_payload<T: Encodable + ?Sized>(value: &T) -> Bytes {
    Bytes::from(alloy_rlp::encode(value))
}

/// The RLP list of `items`, as a message payload.
pub(crate) fn encode_items_payload<T: Encodable>(items: &[T]) -> Bytes {
    let mut out = Vec::with_capacity(alloy_rlp::list_length::<T, T>(items));
    alloy_rlp::encode_list::<T, T>(items, &mut out);
    Bytes::from(out)
}

/// Writes `value` RLP-encoded as the payload of message `code`.
pub async fn send<W: MsgWriter, T: Encodable + ?Sized>(
    w: &W,
    code: u64,
    value: &T,
) -> Result<(), MsgError> {
    w.write_msg(code, encode_payload(value)).await
}

/// Writes `items` as an RLP list, the payload of message `code`
/// (go-ethereum's `SendItems`).
pub async fn send_items<W: MsgWriter, T: Encodable>(
    w: &W,
    code: u64,
    items: &[T],
) -> Result<(), MsgError> {
    w.write_msg(code, encode_items_payload(items)).await
}

/// Reads one message and checks its code and that its payload is the RLP
/// encoding of `content` (go-ethereum's `ExpectMsg`). Returns the message.
pub async fn expect_msg<R: MsgReader, T: Encodable + ?Sized>(
    r: &mut R,
    code: u64,
    content: &T,
) -> Result<Msg, MsgError> {
    expect_payload(r, code, &alloy_rlp::encode(content)).await
}

/// Like [`expect_msg`] for a payload written with [`send_items`]: the RLP
/// list of `items`. (A slice or array of bytes encodes as a byte string,
/// not a list, so `expect_msg(r, code, &[1u8, 2])` does not match
/// `send_items(w, code, &[1u8, 2])`; this does.)
pub async fn expect_items<R: MsgReader, T: Encodable>(
    r: &mut R,
    code: u64,
    items: &[T],
) -> Result<Msg, MsgError> {
    expect_payload(r, code, &encode_items_payload(items)).await
}

async fn expect_payload<R: MsgReader>(r: &mut R, code: u64, want: &[u8]) -> Result<Msg, MsgError> {
    let msg = r.read_msg().await?;
    if msg.code != code {
        return Err(MsgError::UnexpectedCode {
            got: msg.code,
            want: code,
        });
    }
    if msg.payload[..] != want[..] {
        return Err(MsgError::UnexpectedContent { code });
    }
    Ok(msg)
}
