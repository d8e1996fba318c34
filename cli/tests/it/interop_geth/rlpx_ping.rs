//! `rlpx ping` both ways: our CLI against go-ethereum's p2p.Server, and
//! go-ethereum's `devp2p rlpx ping` against our `devp2p node`.

use std::time::Duration;

use crate::geth::{devp2p_tool, harness_args, our_cli, text, Harness};
use crate::ours::our_node;

/// Bound for one ping command (a handshake and a Hello on loopback).
const PING_TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn our_rlpx_ping_reads_geths_hello() {
    let h = Harness::start(&harness_args(
        0x31,
        &[
            "--nodiscover",
            "--name",
            "geth-harness/ping",
            "--proto",
            "tst/3/8",
        ],
    ))
    .await;
    let out = our_cli(&["rlpx", "ping", &h.enode], PING_TIMEOUT).await;
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("geth-harness/ping"), "{}", text(&out));
    assert!(stdout.contains("tst/3"), "{}", text(&out));
    h.exit().await;
}

#[tokio::test]
async fn geths_rlpx_ping_reads_our_hello() {
    let (_node, enode) = our_node(0x32, &["--addr", "127.0.0.1:0", "--nodiscover"]).await;
    let out = devp2p_tool(&["rlpx", "ping", &enode], PING_TIMEOUT).await;
    assert!(out.status.success(), "{}", text(&out));
    // go-ethereum prints our Hello as a Go struct: {Version:5 Name:… Caps:[demo/1] …}
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Version:5"), "{}", text(&out));
    assert!(stdout.contains("Caps:[demo/1]"), "{}", text(&out));
    assert!(stdout.contains("devp2p-rs"), "{}", text(&out));
}
