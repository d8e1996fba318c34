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

/// Whether [::1] can be bound; prints SKIPPED with the reason when not.
fn have_ipv6(test: &str) -> bool {
    match devp2p_netutil::ipv6_loopback_available() {
        Ok(()) => true,
        Err(e) => {
            println!("SKIPPED {test}: cannot bind [::1] ({e})");
            false
        }
    }
}

#[tokio::test]
async fn geths_rlpx_ping_reaches_our_node_over_ipv6() {
    if !have_ipv6("geths_rlpx_ping_reaches_our_node_over_ipv6") {
        return;
    }
    let (_node, enode) = our_node(0x33, &["--addr", "[::1]:0", "--nodiscover"]).await;
    assert!(enode.contains("@[::1]:"), "{enode}");
    let out = devp2p_tool(&["rlpx", "ping", &enode], PING_TIMEOUT).await;
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Caps:[demo/1]"), "{}", text(&out));
}

#[tokio::test]
async fn geths_rlpx_ping_reaches_a_dual_stack_node_on_both_families() {
    use devp2p::node::{Enr, IpFamilies, Node};
    if !have_ipv6("geths_rlpx_ping_reaches_a_dual_stack_node_on_both_families") {
        return;
    }
    let (_node, enode, enr) = crate::ours::our_node_with_enr(
        0x34,
        &[
            "--addr",
            "127.0.0.1:0",
            "--addr6",
            "[::1]:0",
            "--nodiscover",
        ],
    )
    .await;
    let record: Enr = enr.parse().expect("our record parses");
    assert_eq!(record.ip6(), Some(std::net::Ipv6Addr::LOCALHOST));
    let only6 = IpFamilies {
        v4: false,
        v6: true,
    };
    let enode6 = Node::from_enr_reachable(&record, only6)
        .expect("record endpoint")
        .to_string();
    assert!(enode.contains("@127.0.0.1:"), "{enode}");
    assert!(enode6.contains("@[::1]:"), "{enode6}");
    for url in [&enode, &enode6] {
        let out = devp2p_tool(&["rlpx", "ping", url], PING_TIMEOUT).await;
        assert!(out.status.success(), "{url}: {}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("Caps:[demo/1]"), "{}", text(&out));
    }
}
