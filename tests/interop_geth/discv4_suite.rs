//! go-ethereum's own discv4 conformance suite (`devp2p discv4 test`, cases in
//! go-ethereum's `cmd/devp2p/internal/v4test/discv4tests.go`) against our
//! `devp2p node`. Its two test endpoints listen on 127.0.0.1 and 127.0.0.2
//! (the second one checks that an endpoint proof made from one IP does not
//! count for another).
//!
//! Disagreements the suite found, and what changed:
//! - Ping/PastExpiration, Findnode/PastExpiration: the suite sends the
//!   expiration `-(now + 20 s)` as a uint64 (2^64 - t), which go-ethereum
//!   reads as a negative, so past, time; we compared it unsigned (a time far
//!   in the future) and answered. Now expirations at or above 2^63 count as
//!   past (`wire::NEGATIVE_EXPIRATION`, unit tests in `wire_tests.rs` and
//!   `discover/tests/v4_conformance.rs`).

use std::io::Write as _;
use std::time::Duration;

use crate::geth::{devp2p_tool, text};
use crate::ours::our_node;

/// Bound for the whole suite run. Each of its cases waits at most a few
/// 300 ms reads (go-ethereum's `waitTime` in v4test/framework.go); the 15
/// cases take ~1.5 s on loopback. 120 s leaves room for a loaded machine.
const SUITE_TIMEOUT: Duration = Duration::from_secs(120);

/// The cases of go-ethereum v1.17.10's `v4test.AllTests`, in its order.
const CASES: [&str; 15] = [
    "Ping/Basic",
    "Ping/WrongTo",
    "Ping/WrongFrom",
    "Ping/ExtraData",
    "Ping/ExtraDataWrongFrom",
    "Ping/PastExpiration",
    "Ping/WrongPacketType",
    "Ping/BondThenPingWithWrongFrom",
    "ENRRequest",
    "Findnode/WithoutEndpointProof",
    "Findnode/BasicFindnode",
    "Findnode/UnsolicitedNeighbors",
    "Findnode/PastExpiration",
    "Amplification/InvalidPongHash",
    "Amplification/WrongIP",
];

/// One case's verdict as go-ethereum's test runner prints it:
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

#[tokio::test]
async fn geths_discv4_suite_passes_against_our_node() {
    let (_node, enode) = our_node(
        0xa0,
        &["--addr", "127.0.0.1:0", "--netrestrict", "127.0.0.0/8"],
    )
    .await;
    let out = devp2p_tool(
        &[
            "discv4",
            "test",
            "-remote",
            &enode,
            "-listen1",
            "127.0.0.1",
            "-listen2",
            "127.0.0.2",
        ],
        SUITE_TIMEOUT,
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    // go-ethereum's own case list, verdicts and summary line, for the log:
    // written to stderr directly (print! would be captured and shown only
    // on failure), in one write so parallel tests do not split it.
    let report = format!("go-ethereum `devp2p discv4 test` against our {enode}:\n{stdout}");
    let _ = std::io::stderr().lock().write_all(report.as_bytes());
    let got = verdicts(&stdout);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, CASES, "the suite ran other cases\n{}", text(&out));
    let failed: Vec<&str> = got
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| n.as_str())
        .collect();
    assert!(failed.is_empty(), "failed: {failed:?}\n{}", text(&out));
    assert!(
        stdout.contains(&format!("{n}/{n} tests passed.", n = CASES.len())),
        "{}",
        text(&out)
    );
    assert!(out.status.success(), "{}", text(&out));
}
