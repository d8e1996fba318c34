//! Base protocol framing: message codes, `rlp(code) || payload` frames,
//! snappy, and the ping answering policy.

use std::cell::RefCell;
use std::time::Duration;

use alloy_rlp::Encodable;
use bytes::{Bytes, BytesMut};
use tokio::time::Instant;

use devp2p_discover::rlp_item::Item;

use crate::message::MAX_MSG_SIZE;

use super::error::PeerError;

/// Hello (handshake) message code.
pub const HELLO_MSG: u64 = 0x00;
/// Disconnect message code.
pub const DISCONNECT_MSG: u64 = 0x01;
/// Ping message code.
pub const PING_MSG: u64 = 0x02;
/// Pong message code.
pub const PONG_MSG: u64 = 0x03;

/// Interval between our pings (go-ethereum `pingInterval`).
pub const PING_INTERVAL: Duration = Duration::from_secs(15);
/// Read deadline: a peer silent this long is dropped (go-ethereum
/// `frameReadTimeout`). Any message resets it; our pings make the remote talk.
pub const FRAME_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Deadline for writing one message (go-ethereum `frameWriteTimeout`).
pub const FRAME_WRITE_TIMEOUT: Duration = Duration::from_secs(20);
/// Deadline for the final Disconnect write (go-ethereum `discWriteTimeout`).
pub const DISC_WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// Deadline for writing the messages the protocols had queued when the peer
/// started closing, ahead of the final Disconnect; whatever is still queued
/// then is dropped (its confirmations report `Closed`). go-ethereum needs no
/// such step (its `WriteMsg` returns only once the frame is written), so
/// there is no figure to mirror: we take its `discWriteTimeout` (1 s), ample
/// for the default queues of small messages on any link that is not stalled.
pub const FINAL_FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

/// Pongs we answer back to back before rate limiting kicks in. go-ethereum
/// answers every ping; we answer a burst of this many and then one per
/// [`PONG_REFILL_INTERVAL`] (token bucket), silently dropping the excess. An
/// honest peer pings every 15 s, so it never notices; a flooding peer costs
/// us neither unbounded writes nor the connection.
pub const PONG_BURST: u32 = 16;
/// One pong token is added per this interval.
pub const PONG_REFILL_INTERVAL: Duration = Duration::from_secs(1);

/// Token bucket deciding whether a received ping is answered.
#[derive(Debug)]
pub(crate) struct PongLimiter {
    tokens: u32,
    last_refill: Instant,
}

impl PongLimiter {
    pub(crate) fn new(now: Instant) -> Self {
        PongLimiter {
            tokens: PONG_BURST,
            last_refill: now,
        }
    }

    /// Takes a token if one is available.
    pub(crate) fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last_refill);
        let new_tokens = elapsed.as_nanos() / PONG_REFILL_INTERVAL.as_nanos();
        if new_tokens > 0 {
            self.tokens = (self.tokens as u128 + new_tokens).min(PONG_BURST as u128) as u32;
            self.last_refill += PONG_REFILL_INTERVAL * new_tokens.min(u32::MAX as u128) as u32;
        }
        if self.tokens > 0 {
            self.tokens -= 1;
            true
        } else {
            false
        }
    }
}

/// A thread keeps its frame buffer after use only up to this many bytes
/// (256 KiB, as the RLPx read buffer's `KEEP_READ_CAPACITY`): a stream of
/// large messages reuses it, one huge message does not pin its size.
const KEEP_FRAME_SCRATCH: usize = 256 * 1024;

/// What [`encode_frame`] reuses from one frame to the next on a thread.
struct FrameScratch {
    /// Snappy's compressor: its hash table (up to 32 KiB for large inputs)
    /// is allocated once, not per message.
    snappy: snap::raw::Encoder,
    /// Frames are built here and split off. Once the transport has copied
    /// a frame into its write buffer and dropped it, the next frame reuses
    /// the same memory: no allocation per message (a peer's writer waits
    /// for the transport to take the previous frame before building the
    /// next; a transport that keeps frames just makes this allocate).
    buf: BytesMut,
}

thread_local! {
    /// One scratch per thread (a peer's writer runs on whichever worker
    /// polls it). Nothing carries over from one frame to the next, so
    /// servers and peers on one thread share memory only, no state.
    static SCRATCH: RefCell<FrameScratch> = RefCell::new(FrameScratch {
        snappy: snap::raw::Encoder::new(),
        buf: BytesMut::new(),
    });
}

impl FrameScratch {
    fn encode(&mut self, code: u64, payload: &[u8], snappy: bool) -> Result<Bytes, PeerError> {
        let body_max = if snappy {
            snap::raw::max_compress_len(payload.len())
        } else {
            payload.len()
        };
        self.buf.reserve(code.length() + body_max);
        code.encode(&mut self.buf);
        if snappy {
            let start = self.buf.len();
            self.buf.resize(start + body_max, 0);
            match self.snappy.compress(payload, &mut self.buf[start..]) {
                Ok(n) => self.buf.truncate(start + n),
                Err(e) => {
                    self.buf.clear();
                    return Err(PeerError::MalformedMsg(format!("snappy compress: {e}")));
                }
            }
        } else {
            self.buf.extend_from_slice(payload);
        }
        let frame = self.buf.split().freeze();
        if frame.len() > KEEP_FRAME_SCRATCH {
            self.buf = BytesMut::new();
        }
        Ok(frame)
    }
}

/// Builds the transport item `rlp(code) || payload`, snappy-compressing the
/// payload when `snappy` is set. Allocation-free in the steady state: the
/// frame is built in a per-thread buffer that is reused once the transport
/// has dropped the previous frame.
pub fn encode_frame(code: u64, payload: &[u8], snappy: bool) -> Result<Bytes, PeerError> {
    SCRATCH.with_borrow_mut(|scratch| scratch.encode(code, payload, snappy))
}

/// Splits a transport item into its message code and (raw) payload.
pub fn split_frame(frame: &[u8]) -> Result<(u64, &[u8]), PeerError> {
    let bad = |e: alloy_rlp::Error| PeerError::MalformedMsg(format!("message code: {e}"));
    if frame.is_empty() {
        return Err(PeerError::MalformedMsg("empty frame".into()));
    }
    let (item, payload) = match Item::read(frame) {
        Err(alloy_rlp::Error::InputTooShort) => {
            return Err(PeerError::MalformedMsg("truncated message code".into()))
        }
        other => other.map_err(bad)?,
    };
    let code: u64 = item.decode().map_err(bad)?;
    Ok((code, payload))
}

/// Largest decompressed Disconnect payload we inflate, in bytes (ours is 2:
/// an RLP list holding one byte; 64 leaves room for extra list elements).
const MAX_DISCONNECT_SIZE: usize = 64;

/// Checks the decompressed length a snappy payload declares against
/// [`MAX_MSG_SIZE`] (done for every frame, base protocol included). A header
/// that does not parse is not an error here: payloads the base protocol
/// ignores or decodes liberally need not be valid snappy (ethereumjs sends
/// Disconnect uncompressed); [`decompress`] rejects it where it matters.
pub(crate) fn check_declared_len(data: &[u8]) -> Result<(), PeerError> {
    match snap::raw::decompress_len(data) {
        Ok(size) if size > MAX_MSG_SIZE => Err(PeerError::MsgTooLarge {
            size,
            max: MAX_MSG_SIZE,
        }),
        _ => Ok(()),
    }
}

/// Decompresses a snappy payload after checking its declared length against
/// [`MAX_MSG_SIZE`], so a tiny frame cannot make us allocate 4 GiB.
#[allow(unreachable_pub)] // re-exported with the `fuzzing` feature
pub fn decompress(data: &[u8]) -> Result<Bytes, PeerError> {
    let size = snap::raw::decompress_len(data)
        .map_err(|e| PeerError::MalformedMsg(format!("snappy header: {e}")))?;
    check_declared_len(data)?;
    let mut out = vec![0u8; size];
    let n = snap::raw::Decoder::new()
        .decompress(data, &mut out)
        .map_err(|e| PeerError::MalformedMsg(format!("snappy: {e}")))?;
    out.truncate(n);
    Ok(Bytes::from(out))
}

/// Decodes a Disconnect payload liberally: snappy first when enabled, then
/// plain (ethereumjs sends it uncompressed with a bare reason even after a v5
/// Hello). Undecodable payloads still end the connection; they are reported
/// as `DiscReason::Requested`.
#[allow(unreachable_pub)] // re-exported with the `fuzzing` feature
pub fn decode_disconnect(payload: &[u8], snappy: bool) -> crate::DiscReason {
    // A Disconnect is `[reason]`, a few bytes: never inflate a payload that
    // declares more (it could declare up to MAX_MSG_SIZE and cost 16 MiB).
    let small = snap::raw::decompress_len(payload).is_ok_and(|n| n <= MAX_DISCONNECT_SIZE);
    if snappy && small {
        if let Ok(plain) = decompress(payload) {
            if let Ok(r) = crate::DiscReason::decode(&plain) {
                return r;
            }
        }
    }
    crate::DiscReason::decode(payload).unwrap_or(crate::DiscReason::Requested)
}
