//! go-ethereum's own discv5 conformance suite (`devp2p discv5 test`, cases
//! in go-ethereum's `cmd/devp2p/internal/v5test/discv5tests.go`) against our
//! `devp2p node` (discv4 and discv5 on one UDP port) and our `devp2p discv5
//! listen`. Its two test endpoints listen on 127.0.0.1 and 127.0.0.2.
//!
//! What the suite found, and what changed: FindnodeResults waits at most
//! 60 s for the node under test to ping (revalidate) the five nodes that
//! contacted it; the discv5 crate pings table entries every 300 s by
//! default, so it failed. We ping every 10 s now
//! (`v5::DEFAULT_PING_INTERVAL`); the case takes ~10 s.

use std::io::Write as _;
use std::time::Duration;

use crate::geth::{devp2p_tool, text};
use crate::ours::{our_discv5_listen, our_node_with_enr};

/// Bound for the whole suite run: FindnodeResults waits for our 10 s ping
/// round; the other cases take milliseconds. 120 s leaves room for a loaded
/// machine.
const SUITE_TIMEOUT: Duration = Duration::from_secs(120);

/// The cases of go-ethereum v1.17.10's `v5test.AllTests`, in its order.
const CASES: [&str; 10] = [
    "Ping",
    "PingLargeRequestID",
    "PingMultiIP",
    "HandshakeResend",
    "TalkRequest",
    "FindnodeWrongIP",
    "FindnodeHandshake",
    "FindnodeZeroDistance",
    "FindnodeResults",
    "UnsolicitedNodes",
];

/// One case's verdict as go-ethereum's runner prints it:
/// `-- OK <name> (<time>)` or `-- FAIL <name> (<time>)`.
fn verdicts(stdout: &str) -> Vec<(String, bool)> {
    stdout
        .lines()
        .filter_map(|line| {
            let (ok, rest) = if let Some(rest) = line.strip_prefix("-- OK ") {
                (true, rest)
            } else if let Some(rest) = line.strip_prefix("-- FAIL ") {
                (false, rest)
            } else {
                return None;
            };
            let name = rest.split(" (").next().unwrap_or(rest).to_owned();
            Some((name, ok))
        })
        .collect()
}

/// Runs the whole suite against `enr`, shows the case list with verdicts,
/// and asserts that every case ran and passed.
async fn run_suite(what: &str, enr: &str) {
    let out = devp2p_tool(
        &[
            "discv5",
            "test",
            "-listen1",
            "127.0.0.1",
            "-listen2",
            "127.0.0.2",
            enr,
        ],
        SUITE_TIMEOUT,
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let got = verdicts(&stdout);
    let list: String = got
        .iter()
        .map(|(n, ok)| format!("  {} {n}\n", if *ok { "OK  " } else { "FAIL" }))
        .collect();
    let report = format!("go-ethereum `devp2p discv5 test` against {what}:\n{list}");
    let _ = std::io::stderr().lock().write_all(report.as_bytes());
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, CASES, "the suite ran other cases\n{}", text(&out));
    let failed: Vec<&str> = got
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| n.as_str())
        .collect();
    assert!(
        failed.is_empty(),
        "{what}: failed {failed:?}\n{}",
        text(&out)
    );
    assert!(
        stdout.contains(&format!("{n}/{n} tests passed.", n = CASES.len())),
        "{}",
        text(&out)
    );
    assert!(out.status.success(), "{}", text(&out));
}

/// Our full node: discv4 and discv5 on one port.
#[tokio::test]
async fn geths_discv5_suite_passes_against_our_node() {
    let (_node, _enode, enr) = our_node_with_enr(
        0xb0,
        &["--addr", "127.0.0.1:0", "--netrestrict", "127.0.0.0/8"],
    )
    .await;
    run_suite("our devp2p node (discv4 + discv5 on one port)", &enr).await;
}

/// Our discovery-only node (`devp2p discv5 listen`).
#[tokio::test]
async fn geths_discv5_suite_passes_against_our_discv5_listen() {
    let (_listen, enr) = our_discv5_listen(0xb1).await;
    run_suite("our devp2p discv5 listen", &enr).await;
}
