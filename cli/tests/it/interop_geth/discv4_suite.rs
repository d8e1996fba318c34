//! go-ethereum's own discv4 conformance suite (`devp2p discv4 test`, cases in
//! go-ethereum's `cmd/devp2p/internal/v4test/discv4tests.go`) against our
//! `devp2p node` (alone, and with a table bootstrapped from go-ethereum) and
//! our `devp2p discv4 listen`. Its two test endpoints listen on 127.0.0.1 and 127.0.0.2
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

use devp2p::node::NodeId;
use serde_json::json;

use crate::geth::{devp2p_tool, harness_args, text, Harness};
use crate::ours::{key, our_discv4_listen, our_node, WAIT};

/// Pause between two rounds of a bounded polling loop (tests rule: ≤ 250 ms).
const POLL_PAUSE: Duration = Duration::from_millis(250);

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

/// Runs the whole suite against `enode` (what it tests is named in `what`),
/// shows go-ethereum's output and asserts that every case ran and passed.
async fn run_suite(what: &str, enode: &str) {
    let out = devp2p_tool(
        &[
            "discv4",
            "test",
            "-remote",
            enode,
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
    let report = format!("go-ethereum `devp2p discv4 test` against {what} {enode}:\n{stdout}");
    let _ = std::io::stderr().lock().write_all(report.as_bytes());
    let got = verdicts(&stdout);
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

/// Our full node, alone (empty table: the suite's FINDNODEs get empty
/// Neighbors).
#[tokio::test]
async fn geths_discv4_suite_passes_against_our_node() {
    let (_node, enode) = our_node(
        0xa0,
        &["--addr", "127.0.0.1:0", "--netrestrict", "127.0.0.0/8"],
    )
    .await;
    run_suite("our devp2p node", &enode).await;
}

/// Our full node with a table (bootstrapped from go-ethereum's p2p.Server,
/// which it has bonded with): the suite's FINDNODEs get real Neighbors, and
/// our node's own lookups and revalidation run while the suite does.
#[tokio::test]
async fn geths_discv4_suite_passes_against_our_node_with_a_table() {
    let mut h = Harness::start(&harness_args(
        0xa9,
        &["--name", "geth-harness/suite", "--nodial"],
    ))
    .await;
    let (_node, enode) = our_node(
        0xa8,
        &[
            "--addr",
            "127.0.0.1:0",
            "--netrestrict",
            "127.0.0.0/8",
            "--bootnodes",
            &h.enode,
        ],
    )
    .await;
    let our_id = NodeId::from_secret_key(&key(0xa8)).to_string();
    // Bonded: go-ethereum holds us in its table (it only adds nodes that
    // answered its ping back), so we hold it too.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let ev = h.call(json!({"cmd": "nodes"}), "nodes", WAIT).await;
        if ev["v4"]
            .as_array()
            .is_some_and(|v| v.iter().any(|id| *id == our_id))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "go-ethereum never added us to its table: {ev}"
        );
        tokio::time::sleep(POLL_PAUSE).await;
    }
    run_suite("our devp2p node (bootstrapped)", &enode).await;
    h.exit().await;
}

/// Our discovery-only node (`devp2p discv4 listen`, a bootnode).
#[tokio::test]
async fn geths_discv4_suite_passes_against_our_discv4_listen() {
    let (_listen, enode) = our_discv4_listen(0xa6).await;
    run_suite("our devp2p discv4 listen", &enode).await;
}
