//! Misbehaving protocols: one whose `run` panics and one that never reads
//! while the remote floods it. The peer layer's documented policy (see
//! `devp2p::peer` mux docs): a panic ends that peer with
//! `SubprotocolError`; a protocol that does not read back-pressures that
//! peer's reader (nothing more is read from it, its writes back up in TCP)
//! and after the frame read timeout (30 s) the peer is dropped with
//! `SubprotocolError`. Other peers on the same server are unaffected.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use devp2p::peer::FRAME_READ_TIMEOUT;
use devp2p::rlpx::RlpxStream;
use devp2p::server::Server;
use devp2p::{Cap, DiscReason, Protocol, ProtocolError};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::raw::*;
use crate::support::*;

/// Code of the misbehaving protocol when shared with `tst/1` (sorted after
/// it: `tst` owns 0x10..=0x11).
const BAD_CODE: u64 = TST + 2;

/// Messages the flooding peer sends at most (1 KiB of incompressible bytes
/// each, 16 MiB on the wire: more than loopback socket buffers (a few MiB)
/// plus the protocol's bounded queue can hold, so the stall is observable).
const FLOOD_MSGS: usize = 16 * 1024;

/// Echo rounds of the healthy peer while the flooder is being dropped.
const KEEPALIVE_ROUNDS: usize = 25;

/// Bound for an echo on a healthy peer.
const ECHO_WAIT: Duration = Duration::from_secs(5);

/// `zpn/1`: panics as soon as its first read returns (a message, or
/// `Closed` when the peer ends first).
fn panicking() -> Protocol {
    Protocol::new("zpn", 1, 1, |_peer, mut rw| async move {
        use devp2p::MsgReader;
        let _ = rw.read_msg().await;
        panic!("zpn: deliberate protocol bug");
        #[allow(unreachable_code)]
        Ok::<(), ProtocolError>(())
    })
}

/// `zsl/1`: never reads (holds its window until the peer ends).
fn never_reads() -> Protocol {
    Protocol::new("zsl", 1, 1, |_peer, rw| async move {
        let _keep = rw;
        std::future::pending::<()>().await;
        Ok::<(), ProtocolError>(())
    })
}

/// A raw client with key `n` that completed Hello offering `caps`.
async fn peer_with(n: u32, server: &Server, caps: Vec<Cap>) -> RlpxStream<TcpStream> {
    let mut conn = raw_connect(n, server).await;
    devp2p::peer::exchange_hello(&mut conn, &hello(n, caps), server.self_node().id)
        .await
        .expect("hello");
    conn
}

async fn server() -> Server {
    let (tx, _seen) = mpsc::channel(1024);
    let mut cfg = config(5001, tx);
    cfg.protocols.push(panicking());
    cfg.protocols.push(never_reads());
    Server::start(cfg).await.unwrap()
}

#[tokio::test]
async fn panicking_protocol_drops_only_its_peer() {
    let server = server().await;
    let mut good = peer_with(5002, &server, vec![Cap::new("tst", 1)]).await;
    let mut bad = peer_with(5003, &server, vec![Cap::new("tst", 1), Cap::new("zpn", 1)]).await;
    wait_peers(&server, 2).await;
    assert!(
        tst_echo(&mut bad, ECHO_WAIT).await,
        "tst works before the panic"
    );

    let f = frame(&mut bad, BAD_CODE, &[0xc0], true);
    write_raw(&bad, &f).await;
    let o = drain(&mut bad, ECHO_WAIT).await;
    eprintln!(
        "hardening: panicking protocol ended its peer in {:?}",
        o.elapsed
    );
    assert!(o.closed, "{o:?}");
    assert_eq!(
        o.disconnect,
        Some(DiscReason::SubprotocolError.code()),
        "{o:?}"
    );

    wait_peers(&server, 1).await;
    assert!(
        tst_echo(&mut good, ECHO_WAIT).await,
        "other peer unaffected"
    );
    let again = peer_with(5004, &server, vec![Cap::new("tst", 1), Cap::new("zpn", 1)]).await;
    wait_peers(&server, 2).await;
    drop(again);
    server.stop().await;
}

#[tokio::test]
async fn protocol_that_never_reads_backpressures_then_drops_its_peer() {
    let server = server().await;
    let mut good = peer_with(5102, &server, vec![Cap::new("tst", 1)]).await;
    let mut flooder = peer_with(5103, &server, vec![Cap::new("tst", 1), Cap::new("zsl", 1)]).await;
    wait_peers(&server, 2).await;

    // Incompressible (snappy would shrink a constant payload ~20×).
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let payload = alloy_rlp::encode(noise.as_slice());
    let mut all = Vec::new();
    for _ in 0..FLOOD_MSGS {
        all.extend_from_slice(&frame(&mut flooder, BAD_CODE, &payload, true));
    }
    let fully_written = write_raw(&flooder, &all).await;
    eprintln!(
        "hardening: never-reading protocol: {} of {FLOOD_MSGS} messages written before back-pressure",
        if fully_written { "all" } else { "not all" }
    );
    assert!(
        !fully_written,
        "the server stops reading from a peer whose protocol does not read"
    );
    // While the flooder is stuck, the other peer is served normally.
    for _ in 0..3 {
        assert!(
            tst_echo(&mut good, ECHO_WAIT).await,
            "other peer unaffected"
        );
    }
    assert_eq!(
        server.peer_count().await,
        2,
        "back-pressure, not an instant drop"
    );

    // Wait for the drop while the good peer keeps talking (a raw client
    // does not answer pings, so without traffic the server would rightly
    // drop it by the same 30 s read timeout).
    let done = AtomicBool::new(false);
    let (o, echoes) = tokio::join!(
        async {
            let o = drain(&mut flooder, FRAME_READ_TIMEOUT + Duration::from_secs(10)).await;
            done.store(true, Ordering::Relaxed);
            o
        },
        async {
            let mut echoes = Vec::new();
            // Bounded: ≤ KEEPALIVE_ROUNDS rounds of ≤ ECHO_WAIT + 2 s.
            while !done.load(Ordering::Relaxed) && echoes.len() < KEEPALIVE_ROUNDS {
                echoes.push(tst_echo(&mut good, ECHO_WAIT).await);
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            echoes
        }
    );
    assert!(
        echoes.iter().all(|ok| *ok),
        "other peer served throughout: {echoes:?}"
    );
    eprintln!(
        "hardening: stalled protocol's peer dropped after {:?} more",
        o.elapsed
    );
    assert!(o.closed, "{o:?}");
    assert_eq!(
        o.disconnect,
        Some(DiscReason::SubprotocolError.code()),
        "{o:?}"
    );
    wait_peers(&server, 1).await;
    assert!(
        tst_echo(&mut good, ECHO_WAIT).await,
        "other peer still unaffected"
    );
    server.stop().await;
}
