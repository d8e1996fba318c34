//! Garbage before and after a valid handshake: each bad connection ends with
//! the right Disconnect (or a plain close), the server stays up and a good
//! peer connects afterwards.

use std::time::Duration;

use devp2p::peer::{FRAME_READ_TIMEOUT, PONG_BURST, PONG_REFILL_INTERVAL};
use devp2p::server::Server;
use devp2p::DiscReason;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::raw::*;
use crate::support::*;

/// Upper bound for a connection the server must drop at once (bad MAC,
/// snappy bomb, bad code): generous for a loaded 2-core machine.
const PROMPT_CLOSE: Duration = Duration::from_secs(5);

/// Pings sent in the ping flood (the figure).
const PING_FLOOD: usize = 10_000;

/// How long the ping-flood client listens for pongs after sending.
const PONG_LISTEN: Duration = Duration::from_secs(2);

/// Sends `bytes` before any handshake and expects the server to close.
async fn pre_handshake_garbage(server: &Server, bytes: &[u8]) -> Duration {
    let start = Instant::now();
    let mut tcp = TcpStream::connect(server.local_addr().unwrap())
        .await
        .unwrap();
    let _ = tcp.write_all(bytes).await;
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(PROMPT_CLOSE, tcp.read(&mut buf))
        .await
        .expect("server closes a garbage handshake promptly");
    assert!(matches!(n, Ok(0) | Err(_)), "no answer to garbage: {n:?}");
    start.elapsed()
}

/// Completes the handshake and Hello as key `n`, sends `bytes` (made from
/// the connection's egress state by `make`) and drains until the end.
async fn post_handshake<F>(server: &Server, n: u32, make: F, within: Duration) -> Outcome
where
    F: FnOnce(&mut devp2p::rlpx::RlpxStream<TcpStream>) -> Vec<u8>,
{
    let mut conn = raw_peer(n, server).await.expect("valid peer");
    let bytes = make(&mut conn);
    write_raw(&conn, &bytes).await;
    drain(&mut conn, within).await
}

/// Size a snappy bomb's header declares: 17 MiB, over the 16 MiB message
/// limit (`devp2p::MAX_MSG_SIZE`).
const BOMB_DECLARED: u32 = 17 * 1024 * 1024;

/// One frame with message `code` whose snappy varint header declares
/// [`BOMB_DECLARED`] decoded bytes, followed by 32 zero bytes.
fn snappy_bomb(c: &mut devp2p::rlpx::RlpxStream<TcpStream>, code: u64) -> Vec<u8> {
    let mut msg = alloy_rlp::encode(code);
    let mut len = BOMB_DECLARED;
    while len >= 0x80 {
        msg.push((len as u8 & 0x7f) | 0x80);
        len >>= 7;
    }
    msg.push(len as u8);
    msg.extend_from_slice(&[0u8; 32]);
    let mut out = bytes::BytesMut::new();
    c.codec_mut().encode_frame(&msg, &mut out).unwrap();
    out.to_vec()
}

/// A base-protocol message is checked like any other: a ping, pong or
/// Disconnect whose snappy header declares more than 16 MiB gets
/// Disconnect(ProtocolError), and the ping no Pong.
#[tokio::test]
async fn base_protocol_snappy_bomb_is_a_protocol_error() {
    let (server, _seen) = start(2201).await;
    for (i, code) in [PING, PONG, DISCONNECT].into_iter().enumerate() {
        let o = post_handshake(
            &server,
            2202 + i as u32,
            |c| snappy_bomb(c, code),
            PROMPT_CLOSE,
        )
        .await;
        assert!(o.closed, "code {code}: connection closed ({o:?})");
        assert_eq!(o.pongs, 0, "code {code}: no Pong ({o:?})");
        assert_eq!(
            o.disconnect,
            Some(DiscReason::ProtocolError.code()),
            "code {code}: {o:?}"
        );
    }
    wait_peers(&server, 0).await;
    server.stop().await;
}

#[tokio::test]
async fn garbage_ends_each_connection_and_the_server_stays_up() {
    let (server, _seen) = start(2001).await;

    // Before the handshake: random bytes as auth, and an EIP-8 size prefix
    // above the 2048-byte limit.
    let noise: Vec<u8> = (0..600u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let t_noise = pre_handshake_garbage(&server, &noise).await;
    let mut oversized = vec![0x08, 0x01]; // 2049
    oversized.extend_from_slice(&[0u8; 64]);
    let t_big = pre_handshake_garbage(&server, &oversized).await;
    eprintln!("hardening: random auth closed in {t_noise:?}, oversized prefix in {t_big:?}");

    let header_mac = |c: &mut devp2p::rlpx::RlpxStream<TcpStream>| {
        let mut f = frame(c, PING, &[0xc0], true).to_vec();
        f[20] ^= 0x01; // inside the 16-byte header MAC
        f
    };
    let frame_mac = |c: &mut devp2p::rlpx::RlpxStream<TcpStream>| {
        let mut f = frame(c, PING, &[0xc0], true).to_vec();
        *f.last_mut().unwrap() ^= 0x01; // the frame MAC
        f
    };
    let bomb = |c: &mut devp2p::rlpx::RlpxStream<TcpStream>| snappy_bomb(c, TST);
    // tst/1 has 2 codes at 0x10..=0x11: 0x12 belongs to nobody.
    let bad_code =
        |c: &mut devp2p::rlpx::RlpxStream<TcpStream>| frame(c, TST + 2, &[0xc0], true).to_vec();
    // A header declaring 2^24 − 1 bytes (the largest a frame can claim),
    // then nothing: only the header and its MAC are sent.
    let stall = |c: &mut devp2p::rlpx::RlpxStream<TcpStream>| {
        let body = vec![0u8; devp2p::rlpx::MAX_MESSAGE_SIZE - 1];
        let mut msg = alloy_rlp::encode(TST);
        msg.extend_from_slice(&body);
        let mut out = bytes::BytesMut::new();
        c.codec_mut().encode_frame(&msg, &mut out).unwrap();
        out[..32].to_vec()
    };

    let stall_bound = FRAME_READ_TIMEOUT + Duration::from_secs(10);
    let (hm, fm, sb, bc) = tokio::join!(
        post_handshake(&server, 2002, header_mac, PROMPT_CLOSE),
        post_handshake(&server, 2003, frame_mac, PROMPT_CLOSE),
        post_handshake(&server, 2004, bomb, PROMPT_CLOSE),
        post_handshake(&server, 2005, bad_code, PROMPT_CLOSE),
    );
    // Separately: encrypting the 16 MiB frame blocks this single-threaded
    // runtime for a moment, which would skew the timings above.
    let st = post_handshake(&server, 2006, stall, stall_bound).await;
    eprintln!(
        "hardening: Disconnect after snappy bomb at {:?}, after bad code at {:?}",
        sb.disconnect_at, bc.disconnect_at
    );
    eprintln!(
        "hardening: header MAC {:?}, frame MAC {:?}, snappy bomb {:?}, bad code {:?}, 16 MiB stall {:?}",
        hm.elapsed, fm.elapsed, sb.elapsed, bc.elapsed, st.elapsed
    );
    // A broken MAC means the stream cannot be trusted any more: the server
    // just closes (a Disconnect is not attempted on transport errors).
    for (what, o) in [("header MAC", &hm), ("frame MAC", &fm)] {
        assert!(o.closed, "{what}: connection closed ({o:?})");
        assert_eq!(
            o.disconnect, None,
            "{what}: no Disconnect after a MAC failure"
        );
    }
    // A decodable frame with bad content gets Disconnect(ProtocolError).
    for (what, o) in [("snappy bomb", &sb), ("bad code", &bc)] {
        assert!(o.closed, "{what}: connection closed ({o:?})");
        assert_eq!(
            o.disconnect,
            Some(DiscReason::ProtocolError.code()),
            "{what}: {o:?}"
        );
    }
    // The stalled frame ends by the frame read timeout, not earlier than it
    // could (the server must wait for slow links) and not much later.
    assert!(st.closed, "16 MiB stall: closed ({st:?})");
    assert!(
        st.elapsed >= FRAME_READ_TIMEOUT - Duration::from_secs(2),
        "16 MiB stall closed by the read timeout, not before: {st:?}"
    );

    wait_peers(&server, 0).await;
    let good = raw_peer(2007, &server).await;
    assert!(good.is_ok(), "a good peer connects after the garbage");
    server.stop().await;
}

#[tokio::test]
async fn ping_flood_gets_bounded_pongs_and_the_peer_stays_up() {
    let (server, _seen) = start(2101).await;
    let mut conn = raw_peer(2102, &server).await.expect("valid peer");
    let mut all = Vec::with_capacity(PING_FLOOD * 40);
    for _ in 0..PING_FLOOD {
        all.extend_from_slice(&frame(&mut conn, PING, &[0xc0], true));
    }
    let start = Instant::now();
    assert!(write_raw(&conn, &all).await, "server keeps reading pings");
    let o = drain(&mut conn, PONG_LISTEN).await;
    let elapsed = start.elapsed();
    // Token bucket: PONG_BURST at once plus one per PONG_REFILL_INTERVAL.
    let refills = (elapsed.as_secs_f64() / PONG_REFILL_INTERVAL.as_secs_f64()).ceil() as usize;
    let bound = PONG_BURST as usize + refills + 1;
    eprintln!(
        "hardening: {PING_FLOOD} pings → {} pongs in {elapsed:?} (bound {bound})",
        o.pongs
    );
    assert!(!o.closed, "pings alone do not end the connection: {o:?}");
    assert!(o.pongs >= 1, "pings are answered");
    assert!(o.pongs <= bound, "{} pongs > {bound}", o.pongs);
    assert!(
        tst_echo(&mut conn, PROMPT_CLOSE).await,
        "the protocol still works after the flood"
    );
    assert_eq!(server.peer_count().await, 1);
    server.stop().await;
}
