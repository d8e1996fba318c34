//! RLPx: the encrypted, authenticated transport under devp2p
//! (<https://github.com/ethereum/devp2p/blob/master/rlpx.md>, EIP-8).
//!
//! [`connect`] and [`accept`] run the handshake over any byte stream and
//! return an [`RlpxStream`]: a [`Stream`] of received messages and a
//! [`Sink`] of messages to send, one devp2p message (`rlp(msg-id) ||
//! msg-data`) per frame, passed through uninterpreted.
//!
//! The sans-I/O pieces ([`Initiator`], [`Recipient`], [`decode_auth`],
//! [`decode_ack`], [`Secrets`], [`FrameCodec`]) let tests and fuzzers drive
//! the protocol without sockets.
//!
//! Usable alone (this crate needs only `devp2p-identity`): a handshake and
//! one message each way over loopback TCP.
//!
//! ```
//! use bytes::Bytes;
//! use devp2p_identity::{generate_node_key, NodeId};
//! use futures::{SinkExt, StreamExt};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! let (server_key, client_key) = (generate_node_key(), generate_node_key());
//! let server_id = NodeId::from_secret_key(&server_key);
//! let addr = listener.local_addr().unwrap();
//! let server = tokio::spawn(async move {
//!     let (tcp, _) = listener.accept().await.unwrap();
//!     let mut conn = devp2p_rlpx::accept(tcp, &server_key).await.unwrap();
//!     let msg = conn.next().await.unwrap().unwrap();
//!     conn.send(msg.freeze()).await.unwrap(); // echo
//! });
//! let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
//! let mut conn = devp2p_rlpx::connect(tcp, &client_key, server_id).await.unwrap();
//! assert_eq!(conn.remote_id(), server_id);
//! conn.send(Bytes::from_static(b"\x80hello")).await.unwrap();
//! assert_eq!(&conn.next().await.unwrap().unwrap()[..], b"\x80hello");
//! server.await.unwrap();
//! # });
//! ```
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

mod codec;
mod ecies;
mod error;
mod handshake;
mod mac;
mod stream;

#[cfg(test)]
mod test_vectors;
#[cfg(test)]
mod tests;

pub use codec::{frame_len, FrameCodec};
pub use ecies::{decrypt as ecies_decrypt, ecdh_x, encrypt as ecies_encrypt, ECIES_OVERHEAD};
pub use error::{EciesError, MessageError, RlpxError};
pub use handshake::{
    decode_ack, decode_auth, eip8_packet_len, encode_legacy_auth, may_be_legacy, AckMessage,
    AuthMessage, HandshakeKey, HandshakeTranscript, Initiator, PacketFormat, Recipient, Secrets,
    LEGACY_ACK_SIZE, LEGACY_AUTH_SIZE, MAX_HANDSHAKE_PACKET_SIZE, PADDING_RANGE, PROTOCOL_VERSION,
    SIZE_PREFIX_LEN,
};
pub use mac::{mac_cipher, Keccak, MacCipher, MacState};
pub use stream::{accept, accept_with_key, connect, connect_with_key, RlpxStream};

use std::time::Duration;

#[cfg(doc)]
use futures::{Sink, Stream};

/// Largest message one frame can carry, in bytes: the frame header's size
/// field is 24 bits (RLPx spec, "Framing").
pub const MAX_MESSAGE_SIZE: usize = (1 << 24) - 1;

/// Time allowed for the whole handshake, both packets (go-ethereum's
/// `handshakeTimeout`, p2p/rlpx, 5 s).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
