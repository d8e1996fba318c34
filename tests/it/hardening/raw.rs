//! A raw post-handshake RLPx client: writes hand-made (and deliberately
//! broken) frames straight to the socket and reads what the server answers.

use std::time::Duration;

use bytes::BytesMut;
use devp2p::rlpx::RlpxStream;
use devp2p_discover::rlp_item::Item;
use futures::StreamExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Longest time a single raw write may wait for the socket to become
/// writable before the caller treats the remote as back-pressuring.
pub const WRITE_STALL: Duration = Duration::from_secs(1);

/// Message code of Disconnect in the base protocol.
pub const DISCONNECT: u64 = 0x01;
/// Message code of Ping in the base protocol.
pub const PING: u64 = 0x02;
/// Message code of Pong in the base protocol.
pub const PONG: u64 = 0x03;
/// First code of the `tst` protocol (after the 16 base codes).
pub const TST: u64 = 0x10;

/// Encodes `code` + `payload` (snappy-compressed when `snappy`) as one
/// correctly encrypted and MAC'd frame, advancing the egress state.
pub fn frame(
    conn: &mut RlpxStream<TcpStream>,
    code: u64,
    payload: &[u8],
    snappy: bool,
) -> BytesMut {
    let mut msg = alloy_rlp::encode(code);
    if snappy {
        msg.extend(
            snap::raw::Encoder::new()
                .compress_vec(payload)
                .expect("compressible"),
        );
    } else {
        msg.extend_from_slice(payload);
    }
    let mut out = BytesMut::new();
    conn.codec_mut()
        .encode_frame(&msg, &mut out)
        .expect("frame encodes");
    out
}

/// Writes `bytes` to the socket under `conn`, bypassing the codec. Returns
/// `false` if the socket stayed unwritable for [`WRITE_STALL`] (the remote
/// stopped reading) or failed.
pub async fn write_raw(conn: &RlpxStream<TcpStream>, bytes: &[u8]) -> bool {
    let tcp = conn.get_ref();
    let mut off = 0;
    // Bounded: each pass writes ≥ 1 byte or waits at most WRITE_STALL.
    while off < bytes.len() {
        match tokio::time::timeout(WRITE_STALL, tcp.writable()).await {
            Ok(Ok(())) => {}
            _ => return false,
        }
        match tcp.try_write(&bytes[off..]) {
            Ok(0) => return false,
            Ok(n) => off += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return false,
        }
    }
    true
}

/// What the server sent until the connection ended or the wait ran out.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Reason of the Disconnect message received, if any.
    pub disconnect: Option<u8>,
    /// When the Disconnect message arrived, relative to the call.
    pub disconnect_at: Option<Duration>,
    /// Pongs received.
    pub pongs: usize,
    /// Messages of the `tst` protocol received (codes relative to 0x10).
    pub tst: Vec<u64>,
    /// Whether the connection ended (EOF or error) within the wait.
    pub closed: bool,
    /// Time from the call until the end (or the wait ran out).
    pub elapsed: Duration,
}

/// Message code of a decrypted frame (single-byte RLP integers only: the
/// codes this server uses are < 0x80).
fn code_of(frame: &[u8]) -> (u64, &[u8]) {
    match frame.first() {
        Some(0x80) => (0, &frame[1..]),
        Some(&b) if b < 0x80 => (u64::from(b), &frame[1..]),
        _ => (u64::MAX, frame),
    }
}

/// Decodes a snappy-compressed Disconnect payload (`[reason]` or a bare
/// reason).
fn disconnect_reason(payload: &[u8]) -> Option<u8> {
    let plain = snap::raw::Decoder::new().decompress_vec(payload).ok()?;
    let item = Item::first(&plain).ok()?;
    if item.is_list {
        item.list().ok()?.next_decode().ok()
    } else {
        item.decode().ok()
    }
}

/// Reads from `conn` until it ends or `within` passes, recording what came.
pub async fn drain(conn: &mut RlpxStream<TcpStream>, within: Duration) -> Outcome {
    let start = Instant::now();
    let deadline = start + within;
    let mut out = Outcome::default();
    loop {
        match tokio::time::timeout_at(deadline, conn.next()).await {
            Err(_) => break,
            Ok(None) | Ok(Some(Err(_))) => {
                out.closed = true;
                break;
            }
            Ok(Some(Ok(frame))) => {
                let (code, payload) = code_of(&frame);
                match code {
                    DISCONNECT => {
                        out.disconnect = disconnect_reason(payload);
                        out.disconnect_at = Some(start.elapsed());
                    }
                    PONG => out.pongs += 1,
                    c if c >= TST && c != u64::MAX => out.tst.push(c - TST),
                    _ => {}
                }
            }
        }
    }
    out.elapsed = start.elapsed();
    out
}

/// Sends a `tst` code-0 message and waits (≤ `within`) for its echo.
pub async fn tst_echo(conn: &mut RlpxStream<TcpStream>, within: Duration) -> bool {
    let f = frame(conn, TST, &alloy_rlp::encode("echo"), true);
    if !write_raw(conn, &f).await {
        return false;
    }
    let deadline = Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, conn.next()).await {
            Ok(Some(Ok(frame))) => {
                if code_of(&frame).0 == TST + 1 {
                    return true;
                }
            }
            _ => return false,
        }
    }
}
