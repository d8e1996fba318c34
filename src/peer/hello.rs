//! The base protocol's Hello message and its exchange.

use std::time::Duration;

use alloy_rlp::{BufMut, Encodable, Header};
use bytes::{Bytes, BytesMut};
use devp2p_discover::rlp_item::Item;
use futures::{Sink, SinkExt, Stream, StreamExt};

use crate::disc_reason::DiscReason;
use crate::node::{NodeId, NODE_ID_LEN};
use crate::protocol::Cap;

use super::base::{encode_frame, split_frame, DISCONNECT_MSG, HELLO_MSG};
use super::error::PeerError;

/// Base protocol version we speak (devp2p spec: version 5 adds snappy).
pub const BASE_PROTOCOL_VERSION: u64 = 5;

/// First base protocol version that snappy-compresses messages after Hello
/// (go-ethereum `snappyProtocolVersion`).
pub const SNAPPY_PROTOCOL_VERSION: u64 = 5;

/// Largest Hello payload accepted, in bytes (go-ethereum
/// `baseProtocolMaxMsgSize` = 2 KiB).
pub const MAX_HELLO_SIZE: usize = 2 * 1024;

/// Time allowed for the whole Hello exchange (go-ethereum `handshakeTimeout`,
/// which bounds its RLPx and Hello stages separately; the RLPx one is
/// [`crate::rlpx::HANDSHAKE_TIMEOUT`]).
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// The base protocol handshake message (code 0x00).
///
/// RLP `[protocol_version, client_id, [[cap_name, cap_version], ...],
/// listen_port, node_id, ...]`; elements after the node id are ignored
/// (EIP-8 forward compatibility).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// Base protocol version (5).
    pub protocol_version: u64,
    /// Client name, e.g. `Geth/v1.14.0/linux-amd64/go1.22`.
    pub client_id: String,
    /// Capabilities offered.
    pub caps: Vec<Cap>,
    /// TCP listening port (0 if not listening); informational.
    pub listen_port: u16,
    /// The sender's node id.
    pub id: NodeId,
}

impl Hello {
    /// Whether both sides compress messages after Hello.
    pub fn snappy_with(&self, theirs: &Hello) -> bool {
        self.protocol_version >= SNAPPY_PROTOCOL_VERSION
            && theirs.protocol_version >= SNAPPY_PROTOCOL_VERSION
    }

    /// Decodes a Hello payload, checking the node id (64 bytes, not zero).
    pub fn decode(payload: &[u8]) -> Result<Hello, PeerError> {
        if payload.len() > MAX_HELLO_SIZE {
            return Err(PeerError::HelloTooLarge {
                size: payload.len(),
                max: MAX_HELLO_SIZE,
            });
        }
        let bad = |e: alloy_rlp::Error| PeerError::MalformedHello(e.to_string());
        // Bytes after the list are ignored, as go-ethereum's stream decoder does.
        let mut fields = Item::first(payload)
            .map_err(bad)?
            .list()
            .map_err(|_| PeerError::MalformedHello("not a list".into()))?;
        let mut next = || {
            if fields.is_empty() {
                return Err(PeerError::MalformedHello("fewer than 5 elements".into()));
            }
            fields.next_item().map_err(bad)
        };
        let protocol_version: u64 = next()?.decode().map_err(bad)?;
        // Any bytes are a client id (go-ethereum reads a Go string).
        let client_id = String::from_utf8_lossy(next()?.bytes().map_err(bad)?).into_owned();
        let caps_rlp = next()?
            .list()
            .map_err(|_| PeerError::MalformedHello("caps is not a list".into()))?;
        // The count is bounded by MAX_HELLO_SIZE (each cap takes ≥ 3 bytes).
        let mut caps = Vec::new();
        for item in caps_rlp {
            caps.push(item.and_then(|i| i.decode::<Cap>()).map_err(bad)?);
        }
        let port_item = next()?;
        let id_item = next()?;
        // go-ethereum decodes the port as uint64; we keep 16 bits and treat a
        // larger (meaningless) value as "not listening".
        let port: u64 = port_item.decode().map_err(bad)?;
        let listen_port = u16::try_from(port).unwrap_or(0);
        let id_bytes = id_item.bytes().map_err(bad)?;
        if id_bytes.len() != NODE_ID_LEN {
            return Err(PeerError::InvalidIdentity(format!(
                "node id has {} bytes, want {NODE_ID_LEN}",
                id_bytes.len()
            )));
        }
        let id =
            NodeId::from_slice(id_bytes).map_err(|e| PeerError::InvalidIdentity(e.to_string()))?;
        if id.is_zero() {
            return Err(PeerError::InvalidIdentity("node id is zero".into()));
        }
        Ok(Hello {
            protocol_version,
            client_id,
            caps,
            listen_port,
            id,
        })
    }
}

impl Hello {
    /// The header of the RLP list `[version, client id, caps, port, id]`.
    fn rlp_header(&self) -> Header {
        Header {
            list: true,
            payload_length: self.protocol_version.length()
                + self.client_id.length()
                + self.caps.length()
                + self.listen_port.length()
                + self.id.0.length(),
        }
    }
}

impl Encodable for Hello {
    fn encode(&self, out: &mut dyn BufMut) {
        self.rlp_header().encode(out);
        self.protocol_version.encode(out);
        self.client_id.encode(out);
        self.caps.encode(out);
        self.listen_port.encode(out);
        self.id.0.encode(out);
    }

    fn length(&self) -> usize {
        self.rlp_header().length_with_payload()
    }
}

/// Sends `ours` while reading the remote's Hello, under [`HELLO_TIMEOUT`].
///
/// Checks: the first message is Hello (a Disconnect yields
/// [`PeerError::RemoteDisconnect`]), its payload is at most
/// [`MAX_HELLO_SIZE`], its id is 64 non-zero bytes
/// ([`PeerError::InvalidIdentity`]) equal to `authenticated_id`
/// ([`PeerError::UnexpectedIdentity`]). Neither Hello nor a Disconnect before
/// it is snappy-compressed. On error the caller should send
/// `err.disconnect_reason()` if `err.should_send_disconnect()` and close.
pub async fn exchange_hello<T, E>(
    conn: &mut T,
    ours: &Hello,
    authenticated_id: NodeId,
) -> Result<Hello, PeerError>
where
    T: Stream<Item = Result<BytesMut, E>> + Sink<Bytes, Error = E> + Send + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    let frame = encode_frame(HELLO_MSG, &alloy_rlp::encode(ours), false)?;
    let exchange = async {
        let (mut sink, mut stream) = (&mut *conn).split();
        let send = async { sink.send(frame).await.map_err(PeerError::transport) };
        let recv = read_hello(&mut stream, authenticated_id);
        let (sent, received) = futures::future::join(send, recv).await;
        // The remote's answer (a Disconnect reason, say) is more telling than
        // our write failing because it closed the connection.
        let theirs = received?;
        sent?;
        Ok(theirs)
    };
    tokio::time::timeout(HELLO_TIMEOUT, exchange)
        .await
        .map_err(|_| PeerError::HandshakeTimeout)?
}

async fn read_hello<S, E>(stream: &mut S, authenticated_id: NodeId) -> Result<Hello, PeerError>
where
    S: Stream<Item = Result<BytesMut, E>> + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    let frame = match stream.next().await {
        None => return Err(PeerError::ConnectionClosed),
        Some(Err(e)) => return Err(PeerError::transport(e)),
        Some(Ok(f)) => f,
    };
    let (code, payload) = split_frame(&frame)?;
    if payload.len() > MAX_HELLO_SIZE {
        return Err(PeerError::HelloTooLarge {
            size: payload.len(),
            max: MAX_HELLO_SIZE,
        });
    }
    match code {
        HELLO_MSG => {}
        DISCONNECT_MSG => {
            let reason = DiscReason::decode(payload).unwrap_or(DiscReason::Requested);
            return Err(PeerError::RemoteDisconnect(reason));
        }
        other => return Err(PeerError::ExpectedHello(other)),
    }
    let hello = Hello::decode(payload)?;
    if hello.id != authenticated_id {
        return Err(PeerError::UnexpectedIdentity {
            got: Box::new(hello.id),
            want: Box::new(authenticated_id),
        });
    }
    Ok(hello)
}
