//! [`RlpxStream`] and the I/O side of the handshake ([`connect`], [`accept`]).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::{Sink, Stream};
use secp256k1::SecretKey;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::Framed;

use super::codec::FrameCodec;
use super::error::RlpxError;
use super::handshake::{
    eip8_packet_len, may_be_legacy, HandshakeKey, Initiator, Recipient, Secrets, LEGACY_ACK_SIZE,
    LEGACY_AUTH_SIZE, SIZE_PREFIX_LEN,
};
use super::HANDSHAKE_TIMEOUT;
use devp2p_identity::NodeId;

/// Buffered outgoing bytes at which a send waits for a flush (write
/// back-pressure). 64 KiB: the peer writer's batch size, so one batch of
/// small messages becomes one write system call.
pub(crate) const WRITE_BUFFER_FLUSH_BYTES: usize = 64 * 1024;

/// Tracing target of this layer.
const TARGET: &str = "p2p::rlpx";

/// An established RLPx connection: a [`Stream`] of received messages and a
/// [`Sink`] of messages to send, one message per frame.
#[derive(Debug)]
pub struct RlpxStream<S> {
    framed: Framed<S, FrameCodec>,
    remote_id: NodeId,
}

impl<S> RlpxStream<S> {
    /// Wraps `io` after a handshake that produced `secrets`.
    pub fn from_secrets(io: S, secrets: Secrets) -> Self
    where
        S: AsyncRead + AsyncWrite,
    {
        let remote_id = secrets.remote_id;
        let mut framed = Framed::new(io, FrameCodec::new(secrets));
        // Both buffers start empty (Framed allocates 8 KiB each, which was the
        // largest share of an idle peer's memory): the codec reserves read
        // space as frames arrive, the write buffer grows to the largest batch.
        *framed.read_buffer_mut() = BytesMut::new();
        *framed.write_buffer_mut() = BytesMut::new();
        framed.set_backpressure_boundary(WRITE_BUFFER_FLUSH_BYTES);
        RlpxStream { framed, remote_id }
    }

    /// The remote node's static id, authenticated by the handshake.
    pub fn remote_id(&self) -> NodeId {
        self.remote_id
    }

    /// The underlying connection.
    pub fn get_ref(&self) -> &S {
        self.framed.get_ref()
    }

    /// The frame codec (e.g. to lower its read limit).
    pub fn codec_mut(&mut self) -> &mut FrameCodec {
        self.framed.codec_mut()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for RlpxStream<S> {
    type Item = Result<BytesMut, RlpxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.framed).poll_next(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Bytes> for RlpxStream<S> {
    type Error = RlpxError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), RlpxError>> {
        Pin::new(&mut self.framed).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Bytes) -> Result<(), RlpxError> {
        Pin::new(&mut self.framed).start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), RlpxError>> {
        Pin::new(&mut self.framed).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), RlpxError>> {
        Pin::new(&mut self.framed).poll_close(cx)
    }
}

async fn read_exact<S: AsyncRead + Unpin>(io: &mut S, buf: &mut [u8]) -> Result<(), RlpxError> {
    match io.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(RlpxError::HandshakeEof),
        Err(e) => Err(e.into()),
    }
}

/// Reads one handshake packet: legacy (`legacy_size` bytes, starting with
/// 0x04) or EIP-8 (size prefix checked before the body is read). Returns the
/// raw packet; `is_legacy` decides, given the legacy-sized candidate,
/// whether it decrypts as legacy.
async fn read_packet<S: AsyncRead + Unpin>(
    io: &mut S,
    legacy_size: usize,
    is_legacy: impl Fn(&[u8]) -> bool,
) -> Result<Vec<u8>, RlpxError> {
    let mut prefix = [0u8; SIZE_PREFIX_LEN];
    read_exact(io, &mut prefix).await?;
    // Size limit first: nothing more is read for an oversized prefix. A
    // legacy packet's first two bytes (0x04, x) read as 1024..=1279, in range.
    let eip8_len = eip8_packet_len(prefix)?;
    let mut packet = prefix.to_vec();
    if may_be_legacy(prefix[0]) {
        // A legacy packet is shorter than any EIP-8 one starting with 0x04
        // (>= 1026 bytes), so reading legacy_size bytes is safe either way.
        packet.resize(legacy_size, 0);
        read_exact(io, &mut packet[SIZE_PREFIX_LEN..]).await?;
        if is_legacy(&packet) {
            return Ok(packet);
        }
    }
    let have = packet.len();
    packet.resize(eip8_len, 0);
    read_exact(io, &mut packet[have..]).await?;
    Ok(packet)
}

/// Runs the initiator's handshake with `remote` over `io` and returns the
/// established connection. The whole handshake is bounded by
/// [`super::HANDSHAKE_TIMEOUT`].
///
/// Prepares `secret` on every call; callers dialling often should build a
/// [`HandshakeKey`] once and use [`connect_with_key`].
pub async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    secret: &SecretKey,
    remote: NodeId,
) -> Result<RlpxStream<S>, RlpxError> {
    connect_with_key(io, &HandshakeKey::new(*secret), remote).await
}

/// [`connect`] with a prepared [`HandshakeKey`].
pub async fn connect_with_key<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    key: &HandshakeKey,
    remote: NodeId,
) -> Result<RlpxStream<S>, RlpxError> {
    let result = tokio::time::timeout(HANDSHAKE_TIMEOUT, initiate(io, key, remote))
        .await
        .unwrap_or(Err(RlpxError::HandshakeTimeout));
    if let Err(e) = &result {
        tracing::debug!(target: TARGET, remote = ?remote, error = %e, "outbound handshake failed");
    }
    result
}

async fn initiate<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    key: &HandshakeKey,
    remote: NodeId,
) -> Result<RlpxStream<S>, RlpxError> {
    let initiator = Initiator::new(key, remote, &mut rand::rng())?;
    io.write_all(initiator.auth_packet()).await?;
    io.flush().await?;
    let ack = read_packet(&mut io, LEGACY_ACK_SIZE, |p| {
        super::handshake::decode_ack(key.secret(), p).is_ok()
    })
    .await?;
    let secrets = initiator.finish(key, &ack)?;
    Ok(RlpxStream::from_secrets(io, secrets))
}

/// Runs the recipient's handshake over `io`; the remote id is learned from
/// the auth message. Bounded by [`super::HANDSHAKE_TIMEOUT`].
///
/// Prepares `secret` on every call; listeners should build a
/// [`HandshakeKey`] once and use [`accept_with_key`].
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    secret: &SecretKey,
) -> Result<RlpxStream<S>, RlpxError> {
    accept_with_key(io, &HandshakeKey::new(*secret)).await
}

/// [`accept`] with a prepared [`HandshakeKey`].
pub async fn accept_with_key<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    key: &HandshakeKey,
) -> Result<RlpxStream<S>, RlpxError> {
    let result = tokio::time::timeout(HANDSHAKE_TIMEOUT, respond(io, key))
        .await
        .unwrap_or(Err(RlpxError::HandshakeTimeout));
    if let Err(e) = &result {
        tracing::debug!(target: TARGET, error = %e, "inbound handshake failed");
    }
    result
}

async fn respond<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    key: &HandshakeKey,
) -> Result<RlpxStream<S>, RlpxError> {
    let auth = read_packet(&mut io, LEGACY_AUTH_SIZE, |p| {
        super::handshake::decode_auth(key.secret(), p).is_ok()
    })
    .await?;
    let (secrets, ack) = Recipient::respond(key, &auth, &mut rand::rng())?;
    io.write_all(&ack).await?;
    io.flush().await?;
    Ok(RlpxStream::from_secrets(io, secrets))
}
